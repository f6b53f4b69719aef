/**
 * The `DANDELION_*` variables `dandelion rtc` reads: its secrets and TURN credentials, which
 * the environment keeps out of `ps`. Read only through {@link RTC_ENV}, so that the warning
 * about a misspelt one knows every name.
 */
import { envValue } from '../node/dandelion-env.ts'
import { misspeltEnv } from '../node/did-you-mean.ts'

/** Each variable, by the config key it sets (`config.ts`). */
export const RTC_ENV = {
  /** `--secret`: the token signing secret. */
  secret: 'DANDELION_RTC_SECRET',
  /** `--previous-secret`, comma-separated: secrets of before a rotation. */
  previousSecrets: 'DANDELION_RTC_PREVIOUS_SECRETS',
  /** `--ice-server`: STUN/TURN servers (`ice-servers.ts`). */
  iceServers: 'DANDELION_RTC_ICE_SERVERS',
  /** `--turn-secret`: the TURN server's shared secret (`turn-credentials.ts`). */
  turnSecret: 'DANDELION_RTC_TURN_SECRET',
  /** `--ops-token`: bearer of the operators' view of the live classes. */
  opsToken: 'DANDELION_RTC_OPS_TOKEN',
} as const

/** Every `DANDELION_*` variable rtc reads: a near miss of one is a misspelling. */
export const RTC_ENV_NAMES: readonly string[] = Object.values(RTC_ENV)

/** The value of the variable of `key` in `env`; blank is unset ({@link envValue}). */
export function rtcEnvValue(env: NodeJS.ProcessEnv, key: keyof typeof RTC_ENV): string | undefined {
  return envValue(env, RTC_ENV[key])
}

/**
 * Warns through `warn` about each `DANDELION_*` variable of `env` that is a near miss of one
 * rtc reads: no error (the environment is shared with the other services), but the setting
 * it was meant for would otherwise keep its default without a word.
 */
export function warnMisspeltRtcEnv(env: NodeJS.ProcessEnv, warn: (line: string) => void): void {
  for (const { name, meant } of misspeltEnv(env, RTC_ENV_NAMES))
    warn(`WARNING: ${name} is not a setting of rtc and is ignored: did you mean ${meant}?`)
}
