/**
 * Configuration of the node daemon: from a JSON file, then `DANDELION_*` environment
 * variables, then flags (later wins), validated as a whole against a schema that rejects
 * unknown keys, then frozen.
 */
import { readFile } from 'node:fs/promises'
import { Ajv } from 'ajv'
import { blake3Implementation } from '../content/blake3.ts'
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
    'labels',
  ],
  properties: {
    data: { type: 'string', minLength: 1 },
    role: { enum: ['campus', 'device'] },
    campus: { type: 'string', maxLength: 200 },
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
    enrollToken: { type: 'string', minLength: 1, maxLength: 1024 },
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

const validate = new Ajv({ allErrors: true }).compile(schema)

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
  DANDELION_ENROLLMENT_TOKEN: 'enrollToken',
  DANDELION_NODE_ID: 'nodeId',
  DANDELION_LABELS: 'labels',
}

const LISTS = new Set<keyof NodeConfig>(['listen', 'bootstrap', 'trustedOrigins', 'trackers', 'labels'])
const BOOLEANS = new Set<keyof NodeConfig>(['trustAnyOrigin', 'mdns', 'dht', 'webrtc', 'directIo'])
const NUMBERS = new Set<keyof NodeConfig>([
  'playbackPort',
  'uploadLimit',
  'downloadLimit',
  'originLimit',
  'quotaBytes',
  'hashWorkers',
])

/** Converts a text value (env or flag) to the key's type. */
export function coerce(key: keyof NodeConfig, text: string): unknown {
  if (LISTS.has(key))
    return text
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '')
  if (BOOLEANS.has(key)) return text === 'true' || text === '1' || text === 'yes'
  if (NUMBERS.has(key)) return Number(text)
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
  try {
    return JSON.parse(await readFile(path, 'utf8')) as Partial<NodeConfig>
  } catch (err) {
    throw new InvalidConfigError(`cannot read config file ${path}: ${(err as Error).message}`)
  }
}

/** Merges the layers, validates the whole, and returns a frozen copy. */
export function resolveConfig(...layers: Array<Partial<NodeConfig>>): Readonly<NodeConfig> {
  const merged: Record<string, unknown> = { ...CONFIG_DEFAULTS }
  for (const layer of layers) for (const [k, v] of Object.entries(layer)) if (v !== undefined) merged[k] = v
  if (!validate(merged)) {
    const why = (validate.errors ?? []).map(
      (e) =>
        `${e.instancePath || '/'} ${e.message ?? ''}${e.params && 'additionalProperty' in e.params ? ` (${String(e.params.additionalProperty)})` : ''}`,
    )
    throw new InvalidConfigError(`invalid node config: ${why.join('; ')}`)
  }
  // without a trusted key every validly signed manifest is accepted, whoever signed it: the
  // daemon must be told which origins to trust, or told explicitly to trust any
  const trusted = (merged.trustedOrigins as string[]).length
  if (trusted === 0 && merged.trustAnyOrigin !== true) throw new NoTrustedOriginError()
  if (trusted > 0 && merged.trustAnyOrigin === true)
    throw new InvalidConfigError(
      'trustedOrigins and trustAnyOrigin are both set: drop --trust-any-origin ' +
        '(DANDELION_TRUST_ANY_ORIGIN, "trustAnyOrigin") to trust only the listed origin keys',
    )
  const frozen = {
    ...merged,
    listen: Object.freeze([...(merged.listen as string[])]),
    bootstrap: Object.freeze([...(merged.bootstrap as string[])]),
    trustedOrigins: Object.freeze([...(merged.trustedOrigins as string[])]),
    trackers: Object.freeze([...(merged.trackers as string[])]),
    labels: Object.freeze([...(merged.labels as string[])]),
  }
  return Object.freeze(frozen) as unknown as Readonly<NodeConfig>
}
