/**
 * The `npm start` walkthrough with real `dandelion` child processes (tracker, origin,
 * upload, node daemons), kept small: 3 campus nodes and a device, a 4 MiB lesson.
 */
import { execFileSync } from 'node:child_process'
import { describe, expect, it } from 'vitest'
import { runWalkthrough, runWalkthroughCommand } from '../../../node/daemon/walkthrough.ts'

/**
 * Processes a walkthrough started (every one names a path in its `dandelion-walkthrough-`
 * work directory), to prove none is left behind. Other test files run `dandelion`
 * processes at the same time, so the match must not be wider than that.
 */
const dandelionProcesses = (): string[] =>
  execFileSync('ps', ['-eo', 'pid,args'], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => /node\/cli\.ts (tracker|origin|upload|node) |(tracker|origin)\/main\.ts /.test(l))
    .filter((l) => l.includes('dandelion-walkthrough-'))

describe('npm start walkthrough', () => {
  it('releases a lesson in stages to every node, serves identical bytes everywhere, leaves no process', {
    timeout: 90_000,
  }, async () => {
    const before = new Set(dandelionProcesses())
    const lines: string[] = []
    const result = await runWalkthrough({
      campusNodes: 3,
      devices: 1,
      fileBytes: 4 * 1024 * 1024,
      canaryPercent: 25,
      bars: false,
      timeoutMs: 80_000,
      stdout: (l) => lines.push(l),
    })
    expect(result.nodes).toHaveLength(4)
    expect(new Set(result.nodes.map((n) => n.campus))).toEqual(new Set(['bj-1', 'bj-2', 'sh-1']))
    expect(result.nodes.filter((n) => n.role === 'device')).toHaveLength(1)
    for (const n of result.nodes) {
      expect(n.state).toBe('active')
      expect(n.servedBytes).toBe(result.fileBytes)
      expect(n.servedMatches).toBe(true)
    }
    expect(result.bytes.peers + result.bytes.origin).toBeGreaterThanOrEqual(4 * result.fileBytes)
    // progress came from the release status, stage by stage
    expect(lines.some((l) => l.includes('stage 1 (25%, auto)'))).toBe(true)
    expect(lines.some((l) => l.includes('stage 2 (100%, auto)'))).toBe(true)
    expect(lines.some((l) => l.startsWith('done: 4 nodes active'))).toBe(true)
    expect(dandelionProcesses().filter((p) => !before.has(p))).toEqual([])
  })

  it('tears everything down when a step fails', { timeout: 60_000 }, async () => {
    const before = new Set(dandelionProcesses())
    const stop = new AbortController()
    const lines: string[] = []
    const run = runWalkthrough({
      campusNodes: 1,
      devices: 0,
      fileBytes: 1024 * 1024,
      bars: false,
      signal: stop.signal,
      stdout: (l) => {
        lines.push(l)
        // interrupted as soon as the nodes start
        if (l.startsWith('3.')) stop.abort(new Error('interrupted'))
      },
    })
    await expect(run).rejects.toThrow(/interrupted/)
    expect(lines.at(-1)).toContain('stopping every process')
    expect(dandelionProcesses().filter((p) => !before.has(p))).toEqual([])
  })

  it('gives up with a typed error after its time limit, again leaving no process', {
    timeout: 60_000,
  }, async () => {
    const before = new Set(dandelionProcesses())
    await expect(
      runWalkthrough({
        campusNodes: 1,
        devices: 0,
        fileBytes: 1024 * 1024,
        bars: false,
        timeoutMs: 1_500,
        stdout: () => {},
      }),
    ).rejects.toMatchObject({ code: 'ERR_WALKTHROUGH_TIMEOUT' })
    expect(dandelionProcesses().filter((p) => !before.has(p))).toEqual([])
  })

  it('prints its help and rejects bad options', async () => {
    const out: string[] = []
    await runWalkthroughCommand(['--help'], { stdout: (l) => out.push(l) })
    expect(out.join('\n')).toContain('--size-mib')
    await expect(runWalkthroughCommand(['--nodes', '0'], { stdout: () => {} })).rejects.toThrow(/--nodes/)
  })
})
