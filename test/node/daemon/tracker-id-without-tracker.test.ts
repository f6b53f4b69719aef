/**
 * `dandelion node --tracker-id` without `--tracker`: the id is read by the tracker agent
 * alone, which runs only with a tracker. Refused at start (exit 2), naming both settings,
 * instead of being ignored in silence.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { afterEach, describe, expect, it } from 'vitest'
import { runNodeCommand } from '../../../node/daemon/cli.ts'
import { CLI, exitAndStderr, killGroups, LOCAL_FLAGS, TRUSTED_ORIGIN } from '../utils/cli.ts'
import { Harness } from '../utils/harness.ts'

const TRACKER_ID = '12D3KooWLceXSNmfQPHH9CabxXo4ZDjEPZiMpcJgQVPMT3pq7S9y'
const LOCAL = [...LOCAL_FLAGS, '--trusted-origin', TRUSTED_ORIGIN]
const BOTH_NAMED = /--tracker-id, DANDELION_TRACKER_IDS.*--tracker, DANDELION_TRACKERS/

describe('node daemon: a tracker id without a tracker', () => {
  const h = new Harness()
  const children: ChildProcess[] = []
  afterEach(async () => {
    // a daemon that started instead of refusing
    killGroups(children)
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
      // a daemon that started instead of refusing is stopped after 10 s, so the test fails by itself
      return await exitAndStderr(child, 10_000)
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
