import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'

const dirs: string[] = []
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })))
})

const storeModule = fileURLToPath(new URL('../../../node/store/index.ts', import.meta.url))

/**
 * Writes 300 one-chunk segments, then reads them all back after a restart, in a child
 * whose descriptor limit is 128 (a campus store has thousands of segments; a process
 * has a limit). Prints what failed.
 */
const child = `
import { randomBytes } from 'node:crypto'
import { FsChunkStore } from ${JSON.stringify(storeModule)}
const dir = process.argv[1]
const errors = []
let store = new FsChunkStore({ dir, segmentBytes: 4096 })
await store.start()
const cids = []
for (let i = 0; i < 300; i++) {
  try { cids.push(await store.add(new Uint8Array(randomBytes(4096)))) } catch (err) { errors.push('add ' + (err.code ?? err.name)) }
}
await store.stop()
store = new FsChunkStore({ dir, segmentBytes: 4096 })
await store.start()
let read = 0
for (const cid of cids) {
  try { await store.get(cid); read++ } catch (err) { errors.push('get ' + (err.code ?? err.name)) }
}
await store.stop()
console.log(JSON.stringify({ stored: cids.length, read, errors: [...new Set(errors)] }))
`

describe('FsChunkStore open files', () => {
  it('reads and writes a store of more segments than the process may open files', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dandelion-open-files-'))
    dirs.push(dir)
    const proc = spawn(
      '/bin/sh',
      ['-c', 'ulimit -n 128 && exec "$0" "$@"', process.execPath, '--input-type=module', '-e', child, dir],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    )
    let out = ''
    proc.stdout.on('data', (b: Buffer) => {
      out += b.toString()
    })
    const code = await new Promise<number | null>((resolve) => proc.once('exit', resolve))
    expect(code).toBe(0)
    expect(JSON.parse(out.trim().split('\n').at(-1)!)).toEqual({ stored: 300, read: 300, errors: [] })
  })
})
