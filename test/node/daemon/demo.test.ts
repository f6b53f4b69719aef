import { describe, expect, it } from 'vitest'
import { runDemo } from '../../../node/daemon/demo.ts'
import { createOrigin } from '../../../origin/index.ts'
import { attachSeeder } from '../../../origin/seeder.ts'

describe('npm start demo', () => {
  it('uploads a sample, replicates it to every node mostly peer to peer, and tears down', {
    timeout: 60_000,
  }, async () => {
    const lines: string[] = []
    const result = await runDemo({
      createOrigin: async (init) => await createOrigin({ ...init, hashWorkers: 1 }),
      attachSeeder: async (origin, init) => await attachSeeder(origin as never, { ...init, dht: false }),
      fileBytes: 4 * 1024 * 1024,
      bars: false,
      stdout: (l) => lines.push(l),
    })
    expect(result.nodes).toHaveLength(4)
    for (const n of result.nodes) expect(n.bytesFromPeers + n.bytesFromOrigin).toBe(result.fileBytes)
    expect(result.originEgressBytes).toBeLessThan(2 * result.fileBytes)
    expect(lines.at(-1)).toContain('every node has it')
  })
})
