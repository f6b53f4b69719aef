/**
 * `dandelion rtc` and its environment: a misspelt `DANDELION_*` variable is named at start
 * with the one meant (it would otherwise be ignored without a word), the other services'
 * variables in the same env file are not, and a variable left blank (`VAR=`, as
 * rtc/deploy/rtc.env.example ships them) is unset.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import { DANDELION_ENV_NAMES } from '../../node/dandelion-env.ts'
import { runRtcCommand } from '../../rtc/cli.ts'
import { RTC_ENV_NAMES } from '../../rtc/env.ts'

const SECRET = 's'.repeat(24)

afterEach(() => {
  vi.restoreAllMocks()
})

/** Runs `dandelion rtc` on loopback with `env`, stopped as soon as it is up; its stderr, or its refusal. */
async function start(env: NodeJS.ProcessEnv): Promise<{ stderr: string; error?: Error }> {
  let stderr = ''
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stderr += String(chunk)
    return true
  })
  vi.spyOn(process.stdout, 'write').mockImplementation(() => true)
  const args = ['--host', '127.0.0.1', '--port', '0']
  const error = await runRtcCommand(args, { env, signal: AbortSignal.abort() }).then(
    () => undefined,
    (e: unknown) => e as Error,
  )
  vi.restoreAllMocks()
  return { stderr, error }
}

describe('dandelion rtc, its DANDELION_* variables', () => {
  it('warns about a misspelt variable, naming the one meant', async () => {
    const { stderr, error } = await start({
      DANDELION_RTC_SECRET: SECRET,
      DANDELION_RTC_OPS_TOKN: 'o'.repeat(16),
    })
    expect(error).toBeUndefined()
    expect(stderr).toContain(
      'WARNING: DANDELION_RTC_OPS_TOKN is not a setting of rtc and is ignored: did you mean DANDELION_RTC_OPS_TOKEN?',
    )
    // and before refusing to start without the secret it misspells
    const refused = await start({ DANDELION_RTC_SECRT: SECRET })
    expect(refused.error).toMatchObject({ name: 'InvalidConfigError' })
    expect(refused.stderr).toMatch(/WARNING: DANDELION_RTC_SECRT .*did you mean DANDELION_RTC_SECRET\?/)
  })

  it("says nothing of the other services' variables in the same environment", async () => {
    const others = DANDELION_ENV_NAMES.filter((n) => !RTC_ENV_NAMES.includes(n))
    expect(others).toContain('DANDELION_ADMIN_TOKEN')
    expect(others).toContain('DANDELION_ORIGIN_TOKEN')
    const env = Object.fromEntries(others.map((n) => [n, 'some-value-of-theirs']))
    const { stderr, error } = await start({ ...env, DANDELION_RTC_SECRET: SECRET })
    expect(error).toBeUndefined()
    expect(stderr).not.toContain('WARNING')
  })

  it('reads a blank variable as unset: a blank secret is refused by name, blank optional ones start it without them', async () => {
    const blank = await start({ DANDELION_RTC_SECRET: '' })
    expect(blank.error).toMatchObject({
      name: 'InvalidConfigError',
      message: expect.stringContaining('no token signing secret (DANDELION_RTC_SECRET is empty)'),
    })
    // as rtc.env.example ships them, with only the secret filled in
    const shipped = await start({
      DANDELION_RTC_SECRET: SECRET,
      DANDELION_RTC_PREVIOUS_SECRETS: '',
      DANDELION_RTC_OPS_TOKEN: '',
      DANDELION_RTC_ICE_SERVERS: '',
      DANDELION_RTC_TURN_SECRET: '',
    })
    expect(shipped.error).toBeUndefined()
  })
})
