/**
 * `dandelion node --tracker-id` without `--tracker`: the id is read by the tracker agent
 * alone, which runs only with a tracker. Refused at start (exit 2), naming both settings,
 * instead of being ignored in silence.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import { runNodeCommand } from '../../../node/daemon/cli.ts'
import { Harness } from '../utils/harness.ts'

const CLI = fileURLToPath(new URL('../../../node/cli.ts', import.meta.url))
const TRUSTED = 'CAESIDR5jvBh1tbkqxn6zAqRk6mP3nWRWe+h4Lsf3kdQV0eo'
const TRACKER_ID = '12D3KooWLceXSNmfQPHH9CabxXo4ZDjEPZiMpcJgQVPMT3pq7S9y'
const LOCAL = [
  '--listen',
  '/ip4/127.0.0.1/tcp/0',
  '--playback-port',
  '0',
  '--no-dht',
  '--trusted-origin',
  TRUSTED,
]
const BOTH_NAMED = /--tracker-id, DANDELION_TRACKER_IDS.*--tracker, DANDELION_TRACKERS/

describe('node daemon: a tracker id without a tracker', () => {
  const h = new Harness()
  const children: ChildProcess[] = []
  afterEach(async () => {
    // a daemon that started instead of refusing
    for (const c of children.splice(0)) {
      try {
        process.kill(-c.pid!, 'SIGKILL')
      } catch {}
    }
    await h.teardown()
  })

  it('is refused before the node starts, naming --tracker-id and --tracker', async () => {
    const lines: string[] = []
    const stop = new AbortController()
    const run = runNodeCommand([...LOCAL, '--tracker-id', TRACKER_ID], {
      env: { DANDELION_DATA: await h.tempDir() },
      stdout: (l) => {
        lines.push(l)
        // started after all: stop it, so the assertion below fails at once
        if (l.includes('"ready"')) stop.abort()
      },
      stderr: () => {},
      signal: stop.signal,
    })
    await expect(run).rejects.toMatchObject({
      code: 'ERR_INVALID_CONFIG',
      message: expect.stringMatching(BOTH_NAMED),
    })
    expect(lines).toEqual([])
  })

  it('exits 2 with the message, from the flag or the environment variable', { timeout: 30_000 }, async () => {
    const dandelion = async (args: string[], env: NodeJS.ProcessEnv) => {
      const child = spawn(process.execPath, [CLI, 'node', ...LOCAL, ...args], {
        stdio: ['ignore', 'ignore', 'pipe'],
        env: { ...process.env, DANDELION_DATA: await h.tempDir(), ...env },
        detached: true,
      })
      children.push(child)
      let stderr = ''
      child.stderr!.on('data', (d: Buffer) => {
        stderr += d.toString()
      })
      // a daemon that started instead of refusing is stopped here, so the test fails by itself
      const started = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), 10_000)
      const [code] = (await once(child, 'exit')) as [number | null]
      clearTimeout(started)
      return { code, stderr }
    }
    for (const [args, env] of [
      [['--tracker-id', TRACKER_ID], {}],
      [[], { DANDELION_TRACKER_IDS: TRACKER_ID }],
    ] as const) {
      const run = await dandelion([...args], env)
      expect(run.code).toBe(2)
      expect(run.stderr).toMatch(BOTH_NAMED)
    }
  })
})
