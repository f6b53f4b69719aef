/**
 * The `DANDELION_*` names every service knows: each service warns about a near miss of its own
 * variables, never about a colleague service's correct one in the same env file or shell, so
 * the shared list must hold every name each service reads, and only those.
 */
import { describe, expect, it } from 'vitest'
import { SIGNALS_HELD_FD_ENV } from '../../node/cli-main.ts'
import { NODE_ENV_NAMES } from '../../node/daemon/config-sources.ts'
import { DANDELION_ENV_NAMES, envValue } from '../../node/dandelion-env.ts'
import { misspeltEnv } from '../../node/did-you-mean.ts'
import { ORIGIN_ENV_NAMES } from '../../origin/config.ts'
import { RTC_ENV_NAMES } from '../../rtc/env.ts'
import { TRACKER_ENV_NAMES } from '../../tracker/cli-env.ts'

const SERVICES = {
  node: NODE_ENV_NAMES,
  origin: ORIGIN_ENV_NAMES,
  tracker: TRACKER_ENV_NAMES,
  rtc: RTC_ENV_NAMES,
}

describe('DANDELION_* names', () => {
  it("are every service's own, and nothing else", () => {
    const union = new Set([...Object.values(SERVICES).flat(), SIGNALS_HELD_FD_ENV])
    expect([...DANDELION_ENV_NAMES].sort()).toEqual([...union].sort())
    expect(new Set(DANDELION_ENV_NAMES).size).toBe(DANDELION_ENV_NAMES.length)
  })

  it("of another service are never a service's misspelling, all set in one environment", () => {
    const env = Object.fromEntries(DANDELION_ENV_NAMES.map((n) => [n, 'x']))
    for (const [service, own] of Object.entries(SERVICES)) expect(misspeltEnv(env, own), service).toEqual([])
  })

  it('a near miss of one is a misspelling unless a colleague reads it under that very name', () => {
    const env = { DANDELION_RTC_SECRE: 'x', DANDELION_RTC_SECRET: 'x' }
    // as if rtc read DANDELION_RTC_SECRETS and another service DANDELION_RTC_SECRET
    expect(misspeltEnv(env, ['DANDELION_RTC_SECRETS'], ['DANDELION_RTC_SECRET'])).toEqual([
      { name: 'DANDELION_RTC_SECRE', meant: 'DANDELION_RTC_SECRETS' },
    ])
    expect(
      misspeltEnv(env, ['DANDELION_RTC_SECRETS'], [])
        .map((m) => m.name)
        .sort(),
    ).toEqual(['DANDELION_RTC_SECRE', 'DANDELION_RTC_SECRET'])
  })

  it('read blank as unset', () => {
    expect(envValue({ DANDELION_ADMIN_TOKEN: '' }, 'DANDELION_ADMIN_TOKEN')).toBeUndefined()
    expect(envValue({}, 'DANDELION_ADMIN_TOKEN')).toBeUndefined()
    // only an empty value: blanks are a value, refused as one where they are no good
    expect(envValue({ DANDELION_ADMIN_TOKEN: ' ' }, 'DANDELION_ADMIN_TOKEN')).toBe(' ')
  })
})
