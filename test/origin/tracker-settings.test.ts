/**
 * The origin's tracker settings go together: each half without the other is refused at
 * start, naming the flag, the environment variable and the file key of both.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { afterEach, describe, expect, it } from 'vitest'
import { InvalidConfigError } from '../../node/errors.ts'
import { loadOriginConfig } from '../../origin/config.ts'
import { CLI, exitAndStderr, killGroups } from '../node/utils/cli.ts'
import { Fixture } from './utils.ts'

const fx = new Fixture()
const children: ChildProcess[] = []
afterEach(async () => {
  // an origin that started instead of refusing its configuration
  killGroups(children)
  await fx.cleanup()
})

const URL_SETTING = /--tracker-url, DANDELION_ORIGIN_TRACKER_URL, "trackerUrl"/
const TOKEN_SETTING = /--tracker-token, DANDELION_ORIGIN_TRACKER_TOKEN, "trackerToken"/

/** Runs `dandelion origin …args` with `env`; its status and stderr. */
async function origin(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number | null; stderr: string }> {
  const data = await fx.dir()
  const child = spawn(
    process.execPath,
    [CLI, 'origin', '--port', '0', '--data', data, '--no-seed', '--min-free-disk-bytes', '0', ...args],
    // its own process group: a stray origin (the command's child) goes with it in afterEach
    { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env }, detached: true },
  )
  children.push(child)
  // an origin that started instead of refusing is stopped after 10 s, so the test fails by itself
  return await exitAndStderr(child, 10_000)
}

describe('origin tracker settings', () => {
  it('refuses a tracker URL without the token, naming both settings rather than "property trackerToken"', async () => {
    const err = await loadOriginConfig({ trackerUrl: 'http://127.0.0.1:7070' }, {}).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(InvalidConfigError)
    expect((err as Error).message).not.toContain('must have property')
    expect((err as Error).message).toMatch(URL_SETTING)
    expect((err as Error).message).toMatch(TOKEN_SETTING)
    // the same from the command line: exit 2, the message on stderr
    const run = await origin(['--tracker-url', 'http://127.0.0.1:7070'])
    expect(run.code).toBe(2)
    expect(run.stderr).toMatch(TOKEN_SETTING)
  })

  it('refuses a tracker token without a URL instead of ignoring it, from a flag or the environment', async () => {
    const err = await loadOriginConfig({}, { DANDELION_ORIGIN_TRACKER_TOKEN: 'admin-token' }).catch(
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(InvalidConfigError)
    expect((err as Error).message).toMatch(URL_SETTING)
    expect((err as Error).message).toMatch(TOKEN_SETTING)
    const run = await origin(['--tracker-token', 'admin-token'])
    expect(run.code).toBe(2)
    expect(run.stderr).toMatch(URL_SETTING)
    // both together are a working configuration
    const config = await loadOriginConfig(
      { trackerUrl: 'http://127.0.0.1:7070', trackerToken: 'admin-token' },
      {},
    )
    expect(config).toMatchObject({ trackerUrl: 'http://127.0.0.1:7070', trackerToken: 'admin-token' })
  })
})
