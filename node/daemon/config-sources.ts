/**
 * Where the node daemon's settings come from besides its defaults: a JSON file,
 * `DANDELION_*` environment variables and flags, each text value converted to its
 * setting's type; and what an operator calls a setting in each, for error messages.
 */

import { readFile } from 'node:fs/promises'
import { InvalidConfigError } from '../errors.ts'
import { type NodeConfig, SETTING_KEYS, unknownSetting } from './config-schema.ts'

/** Environment variable → config key. Lists are comma-separated. */
export const ENV_KEYS: Record<string, keyof NodeConfig> = {
  DANDELION_DATA: 'data',
  DANDELION_ROLE: 'role',
  DANDELION_CAMPUS: 'campus',
  DANDELION_CITY: 'city',
  DANDELION_LISTEN: 'listen',
  DANDELION_BOOTSTRAP: 'bootstrap',
  DANDELION_ORIGIN: 'origin',
  DANDELION_TRUSTED_ORIGINS: 'trustedOrigins',
  DANDELION_TRUST_ANY_ORIGIN: 'trustAnyOrigin',
  DANDELION_MDNS: 'mdns',
  DANDELION_DHT: 'dht',
  DANDELION_WEBRTC: 'webrtc',
  DANDELION_PLAYBACK_HOST: 'playbackHost',
  DANDELION_PLAYBACK_PORT: 'playbackPort',
  DANDELION_API_TOKEN: 'apiToken',
  DANDELION_UPLOAD_LIMIT: 'uploadLimit',
  DANDELION_DOWNLOAD_LIMIT: 'downloadLimit',
  DANDELION_ORIGIN_LIMIT: 'originLimit',
  DANDELION_ORIGIN_LIMIT_SCHEDULE: 'originLimitSchedule',
  DANDELION_QUOTA_BYTES: 'quotaBytes',
  DANDELION_MIN_FREE_DISK_BYTES: 'minFreeDiskBytes',
  DANDELION_HASH_WORKERS: 'hashWorkers',
  DANDELION_DIRECT_IO: 'directIo',
  DANDELION_SCRUB_INTERVAL_HOURS: 'scrubIntervalHours',
  DANDELION_SCRUB_RATE: 'scrubRate',
  DANDELION_TRACKERS: 'trackers',
  DANDELION_TRACKER_IDS: 'trackerIds',
  DANDELION_ENROLLMENT_TOKEN: 'enrollToken',
  DANDELION_NODE_ID: 'nodeId',
  DANDELION_LABELS: 'labels',
}

/** Flag → config key, for the flags that take a value (lists are repeatable). */
export const FLAG_KEYS: Record<string, keyof NodeConfig> = {
  data: 'data',
  role: 'role',
  campus: 'campus',
  city: 'city',
  listen: 'listen',
  bootstrap: 'bootstrap',
  origin: 'origin',
  'trusted-origin': 'trustedOrigins',
  'playback-host': 'playbackHost',
  'playback-port': 'playbackPort',
  'api-token': 'apiToken',
  'upload-limit': 'uploadLimit',
  'download-limit': 'downloadLimit',
  'origin-limit': 'originLimit',
  'origin-limit-schedule': 'originLimitSchedule',
  'quota-bytes': 'quotaBytes',
  'min-free-disk-bytes': 'minFreeDiskBytes',
  'hash-workers': 'hashWorkers',
  'scrub-interval-hours': 'scrubIntervalHours',
  'scrub-rate': 'scrubRate',
  tracker: 'trackers',
  'tracker-id': 'trackerIds',
  'enroll-token': 'enrollToken',
  'node-id': 'nodeId',
  labels: 'labels',
}

/** Switches (flags without a value) → config key. */
export const SWITCH_KEYS: Record<string, keyof NodeConfig> = {
  mdns: 'mdns',
  webrtc: 'webrtc',
  'no-dht': 'dht',
  'no-direct-io': 'directIo',
  'trust-any-origin': 'trustAnyOrigin',
}

/**
 * How an operator sets `key`: its flag, variable and file key, for error messages (a
 * message naming only `/playbackPort` leaves them to guess which of the three was wrong).
 */
export function settingName(key: string): string {
  const flag =
    Object.entries(FLAG_KEYS).find(([, k]) => k === key)?.[0] ??
    Object.entries(SWITCH_KEYS).find(([, k]) => k === key)?.[0]
  const env = Object.entries(ENV_KEYS).find(([, k]) => k === key)?.[0]
  return [flag === undefined ? undefined : `--${flag}`, env, JSON.stringify(key)]
    .filter((x) => x !== undefined)
    .join(', ')
}

/** Settings that hold a list: comma-separated in a variable, a repeatable flag. */
export const LISTS: ReadonlySet<keyof NodeConfig> = new Set<keyof NodeConfig>([
  'listen',
  'bootstrap',
  'trustedOrigins',
  'trackers',
  'trackerIds',
  'labels',
  'originLimitSchedule',
])
/** Lists whose items may hold commas themselves (`sat,sun 00:00-24:00=none`): `;`-separated in a variable. */
const SEMICOLON_LISTS = new Set<keyof NodeConfig>(['originLimitSchedule'])
const BOOLEANS = new Set<keyof NodeConfig>(['trustAnyOrigin', 'mdns', 'dht', 'webrtc', 'directIo'])
const NUMBERS = new Set<keyof NodeConfig>([
  'playbackPort',
  'uploadLimit',
  'downloadLimit',
  'originLimit',
  'quotaBytes',
  'minFreeDiskBytes',
  'hashWorkers',
  'scrubIntervalHours',
  'scrubRate',
])

const TRUE_TEXT = new Set(['true', '1', 'yes', 'on'])
const FALSE_TEXT = new Set(['false', '0', 'no', 'off'])

/**
 * Converts a text value (env or flag) to the key's type. Text that is no value of that
 * type is kept as text (a blank number as `NaN`), so the schema refuses it by name:
 * until session 14 `DANDELION_MDNS=TRUE` silently meant false and a blank
 * `DANDELION_PLAYBACK_PORT` meant port 0.
 */
export function coerce(key: keyof NodeConfig, text: string): unknown {
  if (LISTS.has(key))
    return text
      .split(SEMICOLON_LISTS.has(key) ? ';' : ',')
      .map((s) => s.trim())
      .filter((s) => s !== '')
  if (BOOLEANS.has(key)) {
    const t = text.trim().toLowerCase()
    return TRUE_TEXT.has(t) ? true : FALSE_TEXT.has(t) ? false : text
  }
  if (NUMBERS.has(key)) return text.trim() === '' ? Number.NaN : Number(text)
  return text
}

/** Reads the environment's `DANDELION_*` values. */
export function fromEnv(env: NodeJS.ProcessEnv): Partial<NodeConfig> {
  const out: Record<string, unknown> = {}
  for (const [name, key] of Object.entries(ENV_KEYS)) {
    const v = env[name]
    if (v !== undefined && v !== '') out[key] = coerce(key, v)
  }
  return out as Partial<NodeConfig>
}

/** Reads a JSON config file; unknown keys are rejected, each with the setting it likely misspells. */
export async function fromFile(path: string): Promise<Partial<NodeConfig>> {
  let parsed: unknown
  try {
    parsed = JSON.parse(await readFile(path, 'utf8'))
  } catch (err) {
    throw new InvalidConfigError(`cannot read config file ${path}: ${(err as Error).message}`)
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new InvalidConfigError(`config file ${path} must hold a JSON object of settings`)
  // named here, where the file is known: the schema's "/ must NOT have additional properties"
  // said neither which file nor which key was meant
  const unknown = Object.keys(parsed).filter((k) => !SETTING_KEYS.includes(k))
  if (unknown.length > 0)
    throw new InvalidConfigError(
      `invalid node config: config file ${path}: ${unknown.map(unknownSetting).join('; ')}`,
    )
  return parsed as Partial<NodeConfig>
}

/** An option of `node:util` `parseArgs`. */
type FlagOption = { type: 'string' | 'boolean'; multiple?: boolean; short?: string }

/** The `parseArgs` options of `dandelion node`: every setting's flag, `--config` and `--help`. */
export function nodeFlagOptions(): Record<string, FlagOption> {
  const options: Record<string, FlagOption> = {
    config: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  }
  for (const flag of Object.keys(SWITCH_KEYS)) options[flag] = { type: 'boolean' }
  // every list setting's flag is repeatable: parseArgs keeps only the last value of a flag
  // that is not `multiple`, and a hand-kept list here left out --tracker-id, so
  // `--tracker-id MAIN --tracker-id STANDBY` obeyed the standby's key alone and refused MAIN
  for (const [flag, key] of Object.entries(FLAG_KEYS))
    options[flag] = { type: 'string', multiple: LISTS.has(key) }
  return options
}

/** The settings given by flags, as `parseArgs` read them with {@link nodeFlagOptions}. */
export function fromFlags(values: Record<string, unknown>): Partial<NodeConfig> {
  const flags: Record<string, unknown> = {}
  for (const [flag, key] of Object.entries(FLAG_KEYS)) {
    const v = values[flag]
    if (v === undefined) continue
    flags[key] = Array.isArray(v)
      ? v.flatMap((x) => coerce(key, x as string) as string[])
      : coerce(key, v as string)
  }
  // a switch turns its setting on, a --no-* switch turns it off
  for (const [flag, key] of Object.entries(SWITCH_KEYS))
    if (values[flag] === true) flags[key] = !flag.startsWith('no-')
  return flags as Partial<NodeConfig>
}

/** Variables the daemon (or `dandelion fetch` / `limits` beside it) reads besides its settings' own. */
const OTHER_ENV = ['DANDELION_CONFIG', 'DANDELION_BLAKE3', 'DANDELION_NODE_URL']

/** Every `DANDELION_*` variable the node daemon reads: a near miss of one is a misspelling. */
export const NODE_ENV_NAMES: readonly string[] = [...Object.keys(ENV_KEYS), ...OTHER_ENV]
