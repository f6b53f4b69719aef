/**
 * The origin daemon's configuration: defaults < optional JSON config file < environment
 * (`DANDELION_ORIGIN_*`) < command-line flags, validated as a whole against a schema
 * that rejects unknown keys, then frozen.
 */
import { readFile } from 'node:fs/promises'
import { Ajv } from 'ajv'
import { envValue } from '../node/dandelion-env.ts'
import { didYouMean } from '../node/did-you-mean.ts'
import { isEd25519PeerId } from '../node/ed25519.ts'
import { InvalidConfigError } from '../node/errors.ts'
import {
  DEFAULT_HOST,
  DEFAULT_MAX_UPLOAD_BYTES,
  DEFAULT_MIN_FREE_DISK_BYTES,
  DEFAULT_PORT,
} from './constants.ts'

/** The origin daemon's settings. */
export interface OriginConfig {
  host: string
  port: number
  /** Data directory. */
  data: string
  /** Upload bearer token; when absent, one is generated and kept in the data directory. */
  token?: string
  chunkSize: number
  maxUploadBytes: number
  minFreeDiskBytes: number
  uploadExpiryHours: number
  /** Private versions (homework photos) are removed this many days after publishing; 0 keeps them. */
  privateRetentionDays: number
  /** Public versions kept per resource, newest first (older ones removed when the tracker agrees); 0 keeps all. */
  keepVersions: number
  /** Hours between two scrubs of the store by the seeding node (`node/scrub.ts`); 0: never on a schedule. */
  scrubIntervalHours: number
  /** Bytes per second a scrub reads at most. */
  scrubRate: number
  hashWorkers?: number
  fsync: boolean
  /** Write ingested chunks with direct I/O where the file system supports it. */
  directIo: boolean
  /** fastify request logs. */
  log: boolean
  /** Run the embedded seeding node (libp2p). */
  seed: boolean
  /** libp2p listen addresses of the seeding node. */
  p2pListen: string[]
  /** Tracker to register each new version with. */
  trackerUrl?: string
  /** The tracker's admin token (required with `trackerUrl`). */
  trackerToken?: string
  /** PeerIds of trusted upload grant issuers (the rtc server's, for homework photos). */
  grantIssuers?: string[]
}

const schema = {
  type: 'object',
  additionalProperties: false,
  required: [
    'host',
    'port',
    'data',
    'chunkSize',
    'maxUploadBytes',
    'minFreeDiskBytes',
    'uploadExpiryHours',
    'privateRetentionDays',
    'keepVersions',
    'scrubIntervalHours',
    'scrubRate',
    'fsync',
    'directIo',
    'log',
  ],
  properties: {
    host: { type: 'string', minLength: 1 },
    port: { type: 'integer', minimum: 0, maximum: 65535 },
    data: { type: 'string', minLength: 1 },
    token: { type: 'string', minLength: 8 },
    chunkSize: { type: 'integer', enum: [262144, 524288, 1048576, 2097152, 4194304] },
    maxUploadBytes: { type: 'integer', minimum: 1 },
    minFreeDiskBytes: { type: 'integer', minimum: 0 },
    uploadExpiryHours: { type: 'number', minimum: 0 },
    privateRetentionDays: { type: 'number', minimum: 0 },
    keepVersions: { type: 'integer', minimum: 0 },
    scrubIntervalHours: { type: 'number', minimum: 0, maximum: 24 * 366 },
    scrubRate: { type: 'number', minimum: 65536 },
    hashWorkers: { type: 'integer', minimum: 0, maximum: 64 },
    fsync: { type: 'boolean' },
    directIo: { type: 'boolean' },
    log: { type: 'boolean' },
    seed: { type: 'boolean' },
    p2pListen: { type: 'array', items: { type: 'string', minLength: 1 }, minItems: 1 },
    trackerUrl: { type: 'string', pattern: '^https?://' },
    trackerToken: { type: 'string', minLength: 1 },
    grantIssuers: { type: 'array', items: { type: 'string', minLength: 1, maxLength: 128 }, maxItems: 16 },
  },
} as const

const DEFAULTS = {
  host: DEFAULT_HOST,
  port: DEFAULT_PORT,
  data: './.data/origin',
  chunkSize: 1024 * 1024,
  maxUploadBytes: DEFAULT_MAX_UPLOAD_BYTES,
  minFreeDiskBytes: DEFAULT_MIN_FREE_DISK_BYTES,
  uploadExpiryHours: 24,
  privateRetentionDays: 30,
  keepVersions: 0,
  // a week, at 8 MiB/s, as campus nodes
  scrubIntervalHours: 168,
  scrubRate: 8 * 1024 * 1024,
  fsync: false,
  directIo: true,
  log: false,
  seed: true,
  p2pListen: ['/ip4/127.0.0.1/tcp/4001'],
}

/** Environment variables read, by config key. */
export const ORIGIN_ENV: Record<string, keyof OriginConfig> = {
  DANDELION_ORIGIN_HOST: 'host',
  DANDELION_ORIGIN_PORT: 'port',
  DANDELION_ORIGIN_DATA: 'data',
  DANDELION_ORIGIN_TOKEN: 'token',
  DANDELION_ORIGIN_CHUNK_SIZE: 'chunkSize',
  DANDELION_ORIGIN_MAX_UPLOAD_BYTES: 'maxUploadBytes',
  DANDELION_ORIGIN_MIN_FREE_DISK_BYTES: 'minFreeDiskBytes',
  DANDELION_ORIGIN_UPLOAD_EXPIRY_HOURS: 'uploadExpiryHours',
  DANDELION_ORIGIN_PRIVATE_RETENTION_DAYS: 'privateRetentionDays',
  DANDELION_ORIGIN_KEEP_VERSIONS: 'keepVersions',
  DANDELION_ORIGIN_SCRUB_INTERVAL_HOURS: 'scrubIntervalHours',
  DANDELION_ORIGIN_SCRUB_RATE: 'scrubRate',
  DANDELION_ORIGIN_HASH_WORKERS: 'hashWorkers',
  DANDELION_ORIGIN_FSYNC: 'fsync',
  DANDELION_ORIGIN_DIRECT_IO: 'directIo',
  DANDELION_ORIGIN_LOG: 'log',
  DANDELION_ORIGIN_SEED: 'seed',
  DANDELION_ORIGIN_TRACKER_URL: 'trackerUrl',
  DANDELION_ORIGIN_TRACKER_TOKEN: 'trackerToken',
}

/**
 * Every `DANDELION_*` variable the origin daemon reads (the lists are read beside
 * {@link ORIGIN_ENV}), or `dandelion upload` / `remove-version` beside it: a near miss of one
 * is a misspelling, warned about at start.
 */
export const ORIGIN_ENV_NAMES: readonly string[] = [
  ...Object.keys(ORIGIN_ENV),
  'DANDELION_ORIGIN_P2P_LISTEN',
  'DANDELION_ORIGIN_GRANT_ISSUERS',
  'DANDELION_BLAKE3',
  'DANDELION_ORIGIN_URL',
  'DANDELION_TOKEN',
]

/** An unknown key, with the setting it most likely misspells. */
function unknownSetting(key: string): string {
  const meant = didYouMean(key, Object.keys(schema.properties))
  return `unknown setting "${key}"${meant === undefined ? '' : ` (did you mean "${meant}"?)`}`
}

const validate = new Ajv({ allErrors: true, coerceTypes: true }).compile(schema)

/** Flags whose name is not the key's in kebab-case. */
const FLAG_OF: Partial<Record<keyof OriginConfig, string>> = {
  seed: '--no-seed',
  directIo: '--no-direct-io',
  grantIssuers: '--grant-issuer',
}

/**
 * How an operator sets `key`: its flag, environment variable and file key, for error
 * messages (a message naming only `trackerToken` leaves them to guess which of the three).
 */
export function originSettingName(key: string): string {
  const flag =
    FLAG_OF[key as keyof OriginConfig] ?? `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`
  const env =
    key === 'p2pListen'
      ? 'DANDELION_ORIGIN_P2P_LISTEN'
      : key === 'grantIssuers'
        ? 'DANDELION_ORIGIN_GRANT_ISSUERS'
        : Object.entries(ORIGIN_ENV).find(([, k]) => k === key)?.[0]
  return [flag, env, JSON.stringify(key)].filter((x) => x !== undefined).join(', ')
}

/**
 * The tracker settings go together: a URL without the token cannot register (the tracker
 * answers 401), and a token without a URL was silently ignored, the operator believing
 * versions were registered.
 */
function checkTrackerSettings(config: Record<string, unknown>): void {
  if (config.trackerUrl !== undefined && config.trackerToken === undefined)
    throw new InvalidConfigError(
      `invalid origin configuration: a tracker URL (${originSettingName('trackerUrl')}) needs the tracker's admin token too (${originSettingName('trackerToken')})`,
    )
  if ((config.keepVersions as number) > 0 && config.trackerUrl === undefined)
    throw new InvalidConfigError(
      `invalid origin configuration: keeping the newest ${String(config.keepVersions)} versions (${originSettingName('keepVersions')}) removes older ones only when the tracker says no node uses them, and no tracker is set (${originSettingName('trackerUrl')}): set it, or remove versions by hand (dandelion remove-version)`,
    )
  if (config.trackerToken !== undefined && config.trackerUrl === undefined)
    throw new InvalidConfigError(
      `invalid origin configuration: a tracker token (${originSettingName('trackerToken')}) is set without the tracker's URL (${originSettingName('trackerUrl')}): no version would be registered; set the URL too, or drop the token`,
    )
}

/** The allowed values of an `enum` failure ("must be equal to one of the allowed values" named none). */
function allowed(params: unknown): string {
  const values = (params as { allowedValues?: unknown[] } | undefined)?.allowedValues
  return Array.isArray(values) ? `: ${values.join(', ')}` : ''
}

/**
 * Builds the configuration from its sources. `flags` and `env` values are strings (the
 * schema coerces them); the file is JSON with the same keys.
 * @throws InvalidConfigError naming every bad or unknown key
 */
export async function loadOriginConfig(
  flags: Record<string, string | boolean | string[] | undefined>,
  env: NodeJS.ProcessEnv = process.env,
  configFile?: string,
): Promise<Readonly<OriginConfig>> {
  let fromFile: Record<string, unknown> = {}
  if (configFile !== undefined) {
    try {
      fromFile = JSON.parse(await readFile(configFile, 'utf8')) as Record<string, unknown>
    } catch (err) {
      throw new InvalidConfigError(`cannot read config file ${configFile}: ${(err as Error).message}`)
    }
  }
  // a blank variable is unset, as in every service: a `DANDELION_ORIGIN_TOKEN=` line left in
  // an env file has a token generated, as no line would (no weaker than one chosen)
  const fromEnv: Record<string, unknown> = {}
  for (const [name, key] of Object.entries(ORIGIN_ENV)) {
    const value = envValue(env, name)
    if (value !== undefined) fromEnv[key] = value
  }
  const p2pListen = envValue(env, 'DANDELION_ORIGIN_P2P_LISTEN')
  if (p2pListen !== undefined) fromEnv.p2pListen = p2pListen.split(',')
  const grantIssuers = envValue(env, 'DANDELION_ORIGIN_GRANT_ISSUERS')
  if (grantIssuers !== undefined) fromEnv.grantIssuers = grantIssuers.split(',').filter((s) => s !== '')
  const fromFlags = Object.fromEntries(Object.entries(flags).filter(([, v]) => v !== undefined))
  const config: Record<string, unknown> = { ...DEFAULTS, ...fromFile, ...fromEnv, ...fromFlags }
  if (!validate(config)) {
    const problems = (validate.errors ?? []).map((e) =>
      e.keyword === 'additionalProperties'
        ? `${unknownSetting((e.params as { additionalProperty: string }).additionalProperty)}${configFile === undefined ? '' : ` in ${configFile}`}`
        : `${e.instancePath.slice(1) || 'config'} ${e.message}${allowed(e.params)}${e.instancePath === '' ? '' : ` (${originSettingName(e.instancePath.split('/')[1])})`}`,
    )
    throw new InvalidConfigError(`invalid origin configuration: ${problems.join('; ')}`)
  }
  checkTrackerSettings(config)
  for (const id of (config.grantIssuers as string[] | undefined) ?? []) {
    if (!isEd25519PeerId(id))
      throw new InvalidConfigError(
        `invalid origin configuration: grantIssuers ${JSON.stringify(id.slice(0, 80))} is not an ed25519 PeerId (the id the rtc server prints at start)`,
      )
  }
  return Object.freeze(config as unknown as OriginConfig)
}
