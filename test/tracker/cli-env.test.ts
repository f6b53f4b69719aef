/**
 * `dandelion tracker` and its environment: a misspelt `DANDELION_*` variable is named at
 * start with the one meant (it would otherwise be ignored without a word), the other
 * services' variables in the same env file are not, and a variable left blank (`VAR=`, as
 * tracker/deploy/tracker.env.example ships them) is unset.
 */
import { join } from 'node:path'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { DANDELION_ENV_NAMES } from '../../node/dandelion-env.ts'
import { InvalidConfigError } from '../../node/errors.ts'
import { runTrackerCommand } from '../../tracker/cli.ts'
import { adminTokenOf } from '../../tracker/cli-admin.ts'
import { TRACKER_ENV_NAMES } from '../../tracker/cli-env.ts'
import { trackerInitFromArgs } from '../../tracker/cli-tracker-args.ts'
import { ADMIN, Harness } from './harness.ts'

const h = new Harness()
afterEach(async () => {
  vi.restoreAllMocks()
  vi.unstubAllEnvs()
  await h.teardown()
})

/** Runs `dandelion tracker` with `env`, stopped as soon as it is up; its stderr, or its refusal. */
async function start(env: NodeJS.ProcessEnv): Promise<{ stderr: string; error?: Error }> {
  let stderr = ''
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stderr += String(chunk)
    return true
  })
  const args = ['--data-dir', join(await h.tmp(), 'tracker'), '--host', '127.0.0.1', '--port', '0']
  const error = await runTrackerCommand(args, { env, signal: AbortSignal.abort() }).then(
    () => undefined,
    (e: unknown) => e as Error,
  )
  vi.restoreAllMocks()
  return { stderr, error }
}

describe('dandelion tracker, its DANDELION_* variables', () => {
  it('warns about a misspelt variable, naming the one meant, before refusing to start without it', async () => {
    const { stderr, error } = await start({ DANDELION_ADMN_TOKEN: ADMIN })
    expect(stderr).toContain(
      'WARNING: DANDELION_ADMN_TOKEN is not a setting of the tracker and is ignored: did you mean DANDELION_ADMIN_TOKEN?',
    )
    expect(error).toBeInstanceOf(InvalidConfigError)
    expect(error?.message).toContain('DANDELION_ADMIN_TOKEN')
    // a misspelt optional token: the tracker starts, without it, and says so
    const viewer = await start({ DANDELION_ADMIN_TOKEN: ADMIN, DANDELION_VIEWR_TOKEN: 'viewer-token-1' })
    expect(viewer.error).toBeUndefined()
    expect(viewer.stderr).toMatch(/WARNING: DANDELION_VIEWR_TOKEN .*did you mean DANDELION_VIEWER_TOKEN\?/)
  })

  it("says nothing of the other services' variables in the same environment", async () => {
    const others = DANDELION_ENV_NAMES.filter((n) => !TRACKER_ENV_NAMES.includes(n as never))
    expect(others).toContain('DANDELION_ORIGIN_TOKEN')
    expect(others).toContain('DANDELION_RTC_SECRET')
    const env = Object.fromEntries(others.map((n) => [n, 'some-value-of-theirs']))
    const { stderr, error } = await start({ ...env, DANDELION_ADMIN_TOKEN: ADMIN })
    expect(error).toBeUndefined()
    expect(stderr).not.toContain('WARNING')
  })

  it('reads a blank variable as unset: a blank admin token is refused by name, blank optional tokens are none', async () => {
    const blank = await start({ DANDELION_ADMIN_TOKEN: '' })
    expect(blank.error).toBeInstanceOf(InvalidConfigError)
    expect(blank.error?.message).toMatch(/admin token .*is required: DANDELION_ADMIN_TOKEN is empty/)
    // no shared enrollment token (nodes enroll only with tokens issued for them), no viewer
    const init = trackerInitFromArgs([], {
      DANDELION_ADMIN_TOKEN: ADMIN,
      DANDELION_ENROLLMENT_TOKEN: '',
      DANDELION_VIEWER_TOKEN: '',
    })
    expect(init.enrollmentToken).toBeUndefined()
    expect(init.viewerToken).toBeUndefined()
    expect(
      (await start({ DANDELION_ADMIN_TOKEN: ADMIN, DANDELION_ENROLLMENT_TOKEN: '' })).error,
    ).toBeUndefined()
    // the operators' commands: a blank admin token is no token, not an empty bearer
    vi.stubEnv('DANDELION_ADMIN_TOKEN', '')
    expect(() => adminTokenOf({})).toThrow(/--token or DANDELION_ADMIN_TOKEN required/)
    expect(adminTokenOf({ token: ADMIN })).toBe(ADMIN)
  })
})
