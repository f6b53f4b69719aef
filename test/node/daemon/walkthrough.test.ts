/**
 * The `npm start` walkthrough with real `dandelion` child processes (tracker, origin,
 * upload, node daemons), kept small: 3 campus nodes and a device, a 4 MiB lesson.
 */
import { execFileSync, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { describe, expect, it } from 'vitest'
import { runWalkthrough, runWalkthroughCommand } from '../../../node/daemon/walkthrough.ts'
import { CLI } from '../utils/cli.ts'

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

/** Processes whose command line names `dir`, as `pid args` lines. */
const processesUnder = (dir: string): string[] =>
  execFileSync('ps', ['-eo', 'pid,args'], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => l.includes(dir))

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
    // every node enrolled with the token issued for its campus alone, as many as it has nodes
    expect(lines.some((l) => l.includes("each campus's with a token issued for it"))).toBe(true)
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

  it('`dandelion demo` interrupted twice, or its terminal closed, leaves no process and no data behind', {
    timeout: 120_000,
  }, async () => {
    for (const signals of [['SIGINT', 'SIGINT'], ['SIGHUP']] as const) {
      // the demo's work directory goes under this one: every process it starts names it
      const tmp = await mkdtemp(join(tmpdir(), 'dandelion-demo-interrupt-'))
      try {
        // its own process group, as a terminal's foreground job: Ctrl-C signals the group
        const demo = spawn(
          process.execPath,
          [CLI, 'demo', '--nodes', '1', '--devices', '0', '--size-mib', '1'],
          {
            stdio: ['ignore', 'pipe', 'ignore'],
            env: { ...process.env, TMPDIR: tmp },
            detached: true,
          },
        )
        const exited = once(demo, 'exit')
        const lines: string[] = []
        let wake = (): void => {}
        createInterface({ input: demo.stdout! }).on('line', (l) => {
          lines.push(l)
          wake()
        })
        demo.once('exit', () => wake())
        const line = async (match: (l: string) => boolean): Promise<void> => {
          while (!lines.some(match)) {
            if (demo.exitCode !== null || demo.signalCode !== null)
              throw new Error(`the demo exited early:\n${lines.join('\n')}`)
            await new Promise<void>((resolve) => (wake = resolve))
          }
        }
        // midway: a node daemon up and enrolled, the tracker and the origin running
        await line((l) => l.includes('enrolled; playback'))
        process.kill(-demo.pid!, signals[0])
        if (signals.length > 1) {
          // impatient: again while the nodes stop, before the tracker and origin are signalled
          await line((l) => l.startsWith('stopping every process'))
          process.kill(-demo.pid!, signals[1])
        }
        await exited
        // a process SIGKILLed a moment ago may still be listed for a short while
        for (let i = 0; i < 50 && processesUnder(tmp).length > 0; i++)
          await new Promise((r) => setTimeout(r, 200))
        // until now a second Ctrl-C left the tracker and the origin running for ever, and a
        // closed terminal every process, each with its data in the temp directory
        expect(processesUnder(tmp), signals.join(', ')).toEqual([])
        expect(await readdir(tmp), signals.join(', ')).toEqual([])
      } finally {
        for (const l of processesUnder(tmp)) {
          try {
            process.kill(Number(l.trim().split(' ')[0]), 'SIGKILL')
          } catch {}
        }
        await rm(tmp, { recursive: true, force: true })
      }
    }
  })

  it('prints its help and rejects bad options', async () => {
    const out: string[] = []
    await runWalkthroughCommand(['--help'], { stdout: (l) => out.push(l) })
    expect(out.join('\n')).toContain('--size-mib')
    await expect(runWalkthroughCommand(['--nodes', '0'], { stdout: () => {} })).rejects.toThrow(/--nodes/)
  })
})
