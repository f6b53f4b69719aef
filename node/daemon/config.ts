/**
 * Configuration of the node daemon: from a JSON file, then `DANDELION_*` environment
 * variables, then flags (later wins), validated as a whole against a schema that rejects
 * unknown keys, then frozen.
 */

import { readFile } from 'node:fs/promises'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { Ajv } from 'ajv'
import { isTrackerId } from '../agent/tracker-auth.ts'
import { blake3Implementation } from '../content/blake3.ts'
import { didYouMean } from '../did-you-mean.ts'
import { InvalidConfigError } from '../errors.ts'

/** The daemon's configuration. Rates are bytes per second. */
export interface NodeConfig {
  data: string
  role: 'campus' | 'device'
  campus?: string
  city?: string
  listen: string[]
  bootstrap: string[]
  origin?: string
  /**
   * Origin public keys trusted to sign manifests: base64 protobuf, or the PeerId an origin
   * prints as `origin key`. At least one is required unless {@link NodeConfig.trustAnyOrigin}.
   */
  trustedOrigins: string[]
  /**
   * Accept manifests signed by any key (labs only): anyone who can reach the playback port
   * could then have this node fetch, store, re-seed and serve content they signed themselves.
   * @default false
   */
  trustAnyOrigin: boolean
  mdns: boolean
  dht: boolean
  webrtc: boolean
  playbackHost: string
  playbackPort: number
  /** Bearer token `POST /fetch` requires. @default generated and kept in `<data>/api-token` */
  apiToken?: string
  uploadLimit?: number
  downloadLimit?: number
  originLimit?: number
  quotaBytes?: number
  /**
   * Worker threads that verify received chunks; 0 verifies on the event loop.
   * @default 0 with the native BLAKE3 (a 1 MiB chunk in ~0.28 ms), 1 with blake3-wasm
   */
  hashWorkers: number
  /** Write received chunks with direct I/O (no copy into the page cache) where the file system has it. */
  directIo: boolean
  /** Tracker command-channel URLs (`ws(s)://host:port/channel`), in failover order; none = no agent. */
  trackers: string[]
  /**
   * PeerIds of the trackers this node obeys (the `trackerId` a tracker prints at start).
   * None: the first tracker that proves its key is pinned (`node/agent/tracker-auth.ts`).
   */
  trackerIds: string[]
  /** Enrollment token presented until the tracker has accepted this node once. */
  enrollToken?: string
  /** Node id in the tracker's inventory. @default `<campus>-<last 12 characters of the PeerId>` */
  nodeId?: string
  /** Labels sent at enrollment. */
  labels: string[]
}

const schema = {
  type: 'object',
  additionalProperties: false,
  required: [
    'data',
    'role',
    'listen',
    'bootstrap',
    'trustedOrigins',
    'trustAnyOrigin',
    'mdns',
    'dht',
    'webrtc',
    'playbackHost',
    'playbackPort',
    'hashWorkers',
    'directIo',
    'trackers',
    'trackerIds',
    'labels',
  ],
  properties: {
    data: { type: 'string', minLength: 1 },
    role: { enum: ['campus', 'device'] },
    // Lengths are counted as the peers count them (UTF-16 units, `unicode: false` below).
    // The tracker drops an enrollment whose campus is empty or longer than 128
    // (`node/agent/protocol.ts`); peers refuse a swarm hello whose campus or city is longer
    // than 200 (`swarm/codec.ts`). Until session 14 a campus of 150 emoji (300 units) passed
    // here and the node could fetch from no peer, without a word.
    campus: { type: 'string', minLength: 1, maxLength: 128 },
    city: { type: 'string', maxLength: 200 },
    listen: { type: 'array', items: { type: 'string', pattern: '^/' }, maxItems: 16 },
    bootstrap: { type: 'array', items: { type: 'string', pattern: '^/.*/p2p/' }, maxItems: 256 },
    origin: { type: 'string', pattern: '^https?://' },
    trustedOrigins: { type: 'array', items: { type: 'string', minLength: 1 }, maxItems: 16 },
    trustAnyOrigin: { type: 'boolean' },
    mdns: { type: 'boolean' },
    dht: { type: 'boolean' },
    webrtc: { type: 'boolean' },
    playbackHost: { type: 'string' },
    apiToken: { type: 'string', minLength: 8 },
    playbackPort: { type: 'integer', minimum: 0, maximum: 65535 },
    uploadLimit: { type: 'number', exclusiveMinimum: 0 },
    downloadLimit: { type: 'number', exclusiveMinimum: 0 },
    originLimit: { type: 'number', exclusiveMinimum: 0 },
    quotaBytes: { type: 'integer', minimum: 0 },
    hashWorkers: { type: 'integer', minimum: 0, maximum: 64 },
    directIo: { type: 'boolean' },
    trackers: { type: 'array', items: { type: 'string', pattern: '^wss?://[^/]+' }, maxItems: 16 },
    trackerIds: { type: 'array', items: { type: 'string', minLength: 1, maxLength: 128 }, maxItems: 16 },
    // the tracker drops an enrollment whose token is longer (`node/agent/protocol.ts`)
    enrollToken: { type: 'string', minLength: 1, maxLength: 512 },
    // the tracker's id pattern for inventory entries
    nodeId: { type: 'string', minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9._:-]+$' },
    labels: { type: 'array', items: { type: 'string', minLength: 1, maxLength: 64 }, maxItems: 32 },
  },
} as const

/**
 * The daemon was given no origin key to trust and was not told to trust any: it would
 * accept manifests signed by anyone. Matched by `name`; `code` stays `ERR_INVALID_CONFIG`
 * (a configuration error: the command exits 2).
 */
export class NoTrustedOriginError extends InvalidConfigError {
  override name = 'NoTrustedOriginError'
  constructor() {
    super(
      'no trusted origin key: set --trusted-origin KEY (repeatable), DANDELION_TRUSTED_ORIGINS ' +
        '(comma-separated) or "trustedOrigins" in the config file to the public key of each origin ' +
        'whose manifests this node may fetch (the "origin key" line of the origin\'s banner, or its ' +
        'base64 protobuf); --trust-any-origin (DANDELION_TRUST_ANY_ORIGIN, "trustAnyOrigin") accepts ' +
        'any signer, for labs only',
    )
  }
}

// unicode: false: string lengths in UTF-16 units, as JavaScript's `length` that the wire checks use.
// Ajv 8 still honours it but warns that it is deprecated, on the daemon's stderr at every start:
// that one warning is dropped, anything else Ajv says still reaches the console.
const UNICODE_DEPRECATION = 'DEPRECATED: option unicode'
const validate = new Ajv({
  allErrors: true,
  unicode: false,
  logger: {
    log: console.log,
    warn: (...args: unknown[]) => {
      if (!(typeof args[0] === 'string' && args[0].startsWith(UNICODE_DEPRECATION))) console.warn(...args)
    },
    error: console.error,
  },
}).compile(schema)

/** Defaults before file, env and flags. */
export const CONFIG_DEFAULTS: Omit<NodeConfig, 'data'> = {
  role: 'campus',
  listen: ['/ip4/0.0.0.0/tcp/4001'],
  bootstrap: [],
  trustedOrigins: [],
  trustAnyOrigin: false,
  mdns: false,
  dht: true,
  webrtc: false,
  playbackHost: '127.0.0.1',
  playbackPort: 8090,
  // a worker only pays off when hashing is slow: with the native BLAKE3, posting a chunk
  // to a worker and waking it costs more main-thread time than hashing it here
  hashWorkers: blake3Implementation === 'native' ? 0 : 1,
  directIo: true,
  trackers: [],
  trackerIds: [],
  labels: [],
}

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
  DANDELION_QUOTA_BYTES: 'quotaBytes',
  DANDELION_HASH_WORKERS: 'hashWorkers',
  DANDELION_DIRECT_IO: 'directIo',
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
  'quota-bytes': 'quotaBytes',
  'hash-workers': 'hashWorkers',
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
])
const BOOLEANS = new Set<keyof NodeConfig>(['trustAnyOrigin', 'mdns', 'dht', 'webrtc', 'directIo'])
const NUMBERS = new Set<keyof NodeConfig>([
  'playbackPort',
  'uploadLimit',
  'downloadLimit',
  'originLimit',
  'quotaBytes',
  'hashWorkers',
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
      .split(',')
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

/** Reads a JSON config file (unknown keys are rejected by {@link resolveConfig}). */
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

/** The keys a config file may hold (the daemon's settings, camelCase). */
const SETTING_KEYS: readonly string[] = Object.keys(schema.properties)

/** An unknown key, with the setting it most likely misspells. */
function unknownSetting(key: string): string {
  const meant = didYouMean(key, SETTING_KEYS)
  return `unknown setting ${JSON.stringify(key)}${meant === undefined ? '' : ` (did you mean ${JSON.stringify(meant)}?)`}`
}

/** Variables the daemon (or `dandelion fetch` / `limits` beside it) reads besides its settings' own. */
const OTHER_ENV = ['DANDELION_CONFIG', 'DANDELION_BLAKE3', 'DANDELION_NODE_URL']

/** Every `DANDELION_*` variable the node daemon reads: a near miss of one is a misspelling. */
export const NODE_ENV_NAMES: readonly string[] = [...Object.keys(ENV_KEYS), ...OTHER_ENV]

/** Merges the layers, validates the whole, and returns a frozen copy. */
export function resolveConfig(...layers: Array<Partial<NodeConfig>>): Readonly<NodeConfig> {
  const merged: Record<string, unknown> = { ...CONFIG_DEFAULTS }
  for (const layer of layers) for (const [k, v] of Object.entries(layer)) if (v !== undefined) merged[k] = v
  if (!validate(merged)) {
    const why = (validate.errors ?? []).map((e) => {
      // a missing setting has no path of its own: name it after the property it lacks
      const key = e.instancePath.split('/')[1] ?? (e.params as { missingProperty?: string }).missingProperty
      const where = key === undefined ? '' : ` (${settingName(key)})`
      const extra =
        e.params && 'additionalProperty' in e.params
          ? ` (${unknownSetting(String(e.params.additionalProperty))})`
          : ''
      return `${e.instancePath || '/'} ${e.message ?? ''}${extra}${where}`
    })
    throw new InvalidConfigError(`invalid node config: ${why.join('; ')}`)
  }
  checkMultiaddrs(merged.listen as string[], 'listen', false)
  checkMultiaddrs(merged.bootstrap as string[], 'bootstrap', true)
  // without a trusted key every validly signed manifest is accepted, whoever signed it: the
  // daemon must be told which origins to trust, or told explicitly to trust any
  const trusted = (merged.trustedOrigins as string[]).length
  if (trusted === 0 && merged.trustAnyOrigin !== true) throw new NoTrustedOriginError()
  if (trusted > 0 && merged.trustAnyOrigin === true)
    throw new InvalidConfigError(
      'trustedOrigins and trustAnyOrigin are both set: drop --trust-any-origin ' +
        '(DANDELION_TRUST_ANY_ORIGIN, "trustAnyOrigin") to trust only the listed origin keys',
    )
  for (const id of merged.trackerIds as string[])
    if (!isTrackerId(id))
      throw new InvalidConfigError(
        `tracker id ${JSON.stringify(id.slice(0, 80))} is not an ed25519 PeerId (${settingName('trackerIds')}): use the "trackerId" the tracker prints at start`,
      )
  for (const url of merged.trackers as string[]) checkTrackerUrl(url)
  const frozen = {
    ...merged,
    listen: Object.freeze([...(merged.listen as string[])]),
    bootstrap: Object.freeze([...(merged.bootstrap as string[])]),
    trustedOrigins: Object.freeze([...(merged.trustedOrigins as string[])]),
    trackers: Object.freeze([...(merged.trackers as string[])]),
    trackerIds: Object.freeze([...(merged.trackerIds as string[])]),
    labels: Object.freeze([...(merged.labels as string[])]),
  }
  return Object.freeze(frozen) as unknown as Readonly<NodeConfig>
}

/**
 * Settings only the tracker agent reads need a tracker to run it: `--tracker-id` without
 * `--tracker` was silently ignored, the operator believing the node obeyed only that key.
 * The daemon checks this at start; {@link resolveConfig} checks each value on its own
 * (a tracker id alone is well formed).
 * @throws InvalidConfigError naming both settings (the command exits 2)
 */
export function checkAgentSettings(config: Readonly<NodeConfig>): void {
  if (config.trackerIds.length > 0 && config.trackers.length === 0)
    throw new InvalidConfigError(
      `invalid node config: a tracker id is set (${settingName('trackerIds')}) but no tracker (${settingName('trackers')}): ` +
        'without a tracker the node runs no agent and the id is not used; add the tracker\'s "channelUrl" with --tracker, or drop --tracker-id',
    )
}

/**
 * A tracker URL must name the command channel's path: the tracker serves no channel at
 * `/`, and the agent retried `ws://host:7070` (its `url`, not its `channelUrl`) for ever,
 * logging each failure at debug level only.
 */
function checkTrackerUrl(url: string): void {
  let path: string | undefined
  try {
    path = new URL(url).pathname
  } catch (err) {
    throw new InvalidConfigError(
      `invalid node config: tracker URL ${JSON.stringify(url)}: ${(err as Error).message} (${settingName('trackers')})`,
    )
  }
  if (path === '/' || path === '')
    throw new InvalidConfigError(
      `invalid node config: tracker URL ${JSON.stringify(url)} names no path: the command channel is at ` +
        `${url.replace(/\/*$/, '')}/channel, the "channelUrl" the tracker prints (${settingName('trackers')})`,
    )
}

/**
 * Listen and bootstrap addresses must parse, and a bootstrap address must end in a valid
 * peer id: libp2p refused a bad listen address with a bare "Protocol foo was unknown", and
 * a bad bootstrap address only failed each dial, logged at debug level, so the node ran
 * alone without a word.
 */
function checkMultiaddrs(addrs: string[], key: 'listen' | 'bootstrap', needsPeer: boolean): void {
  addrs.forEach((text, i) => {
    let why: string | undefined
    let p2p: string | undefined
    try {
      p2p = multiaddr(text)
        .getComponents()
        .find((c) => c.name === 'p2p')?.value
    } catch (err) {
      why = (err as Error).message
    }
    if (why === undefined && needsPeer) {
      if (p2p === undefined) why = 'has no /p2p/<peer id>'
      else
        try {
          peerIdFromString(p2p)
        } catch {
          why = `${JSON.stringify(p2p)} is not a peer id`
        }
    }
    if (why !== undefined)
      throw new InvalidConfigError(
        `invalid node config: /${key}/${i} ${JSON.stringify(text)}: ${why} (${settingName(key)})`,
      )
  })
}
