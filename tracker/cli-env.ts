/**
 * The `DANDELION_*` variables the tracker's commands read: `dandelion tracker` its tokens,
 * kept off the command line, and the operators' commands (`release`, `enroll-token`, …) the
 * tracker's address and the admin token. Read only through {@link TRACKER_ENV}, so that the
 * warning about a misspelt one knows every name.
 */
import { envValue } from '../node/dandelion-env.ts'
import { misspeltEnv } from '../node/did-you-mean.ts'

/** Each variable, by what it gives. */
export const TRACKER_ENV = {
  /** Bearer of the admin API (`--admin-token`, the operators' `--token`). */
  adminToken: 'DANDELION_ADMIN_TOKEN',
  /** Reads the admin API only (`--viewer-token`). */
  viewerToken: 'DANDELION_VIEWER_TOKEN',
  /** The shared token any node may enroll with (`--enrollment-token`). */
  enrollmentToken: 'DANDELION_ENROLLMENT_TOKEN',
  /** The tracker the operators' commands talk to (`--tracker`). */
  trackerUrl: 'DANDELION_TRACKER_URL',
} as const

/** A variable of {@link TRACKER_ENV}. */
export type TrackerEnvName = (typeof TRACKER_ENV)[keyof typeof TRACKER_ENV]

/** Every `DANDELION_*` variable the tracker's commands read: a near miss of one is a misspelling. */
export const TRACKER_ENV_NAMES: readonly TrackerEnvName[] = Object.values(TRACKER_ENV)

/** The variables of an environment the tracker's commands read. */
export type TrackerEnv = Readonly<Partial<Record<TrackerEnvName, string>>>

/** The value of the variable of `key` in `env`; blank is unset ({@link envValue}). */
export function trackerEnvValue(env: TrackerEnv, key: keyof typeof TRACKER_ENV): string | undefined {
  return envValue(env, TRACKER_ENV[key])
}

/**
 * Warns through `warn` about each `DANDELION_*` variable of `env` that is a near miss of one
 * the tracker reads: no error (the environment is shared with the other services), but the
 * setting it was meant for would otherwise keep its default without a word.
 */
export function warnMisspeltTrackerEnv(env: NodeJS.ProcessEnv, warn: (line: string) => void): void {
  for (const { name, meant } of misspeltEnv(env, TRACKER_ENV_NAMES))
    warn(`WARNING: ${name} is not a setting of the tracker and is ignored: did you mean ${meant}?`)
}
