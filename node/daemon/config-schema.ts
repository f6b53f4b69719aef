/**
 * What the node daemon's settings are: their type, the schema every configuration is
 * validated against as a whole (unknown keys rejected), and their defaults.
 */

import { Ajv } from 'ajv'
import { blake3Implementation } from '../content/blake3.ts'
import { didYouMean } from '../did-you-mean.ts'

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
  /** Bytes kept free on the store's disk: past it unpinned content is evicted, then chunks refused. 0: no floor. */
  minFreeDiskBytes: number
  /**
   * Worker threads that verify received chunks; 0 verifies on the event loop.
   * @default 0 with the native BLAKE3 (a 1 MiB chunk in ~0.28 ms), 1 with blake3-wasm
   */
  hashWorkers: number
  /** Write received chunks with direct I/O (no copy into the page cache) where the file system has it. */
  directIo: boolean
  /** Time-of-day windows of the origin rate (`node/limiter/schedule.ts`); none: `originLimit` always. */
  originLimitSchedule: string[]
  /** Hours between two scrub passes (every stored chunk read back and hashed); 0: only when asked. */
  scrubIntervalHours: number
  /** Bytes per second a scrub pass reads at most. */
  scrubRate: number
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
    'scrubIntervalHours',
    'scrubRate',
    'originLimitSchedule',
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
    minFreeDiskBytes: { type: 'integer', minimum: 0 },
    hashWorkers: { type: 'integer', minimum: 0, maximum: 64 },
    directIo: { type: 'boolean' },
    originLimitSchedule: {
      type: 'array',
      items: { type: 'string', minLength: 1, maxLength: 128 },
      maxItems: 32,
    },
    scrubIntervalHours: { type: 'number', minimum: 0, maximum: 24 * 366 },
    scrubRate: { type: 'number', minimum: 65536 },
    trackers: { type: 'array', items: { type: 'string', pattern: '^wss?://[^/]+' }, maxItems: 16 },
    trackerIds: { type: 'array', items: { type: 'string', minLength: 1, maxLength: 128 }, maxItems: 16 },
    // the tracker drops an enrollment whose token is longer (`node/agent/protocol.ts`)
    enrollToken: { type: 'string', minLength: 1, maxLength: 512 },
    // the tracker's id pattern for inventory entries
    nodeId: { type: 'string', minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9._:-]+$' },
    labels: { type: 'array', items: { type: 'string', minLength: 1, maxLength: 64 }, maxItems: 32 },
  },
} as const

const UNICODE_DEPRECATION = 'DEPRECATED: option unicode'
// unicode: false: string lengths in UTF-16 units, as JavaScript's `length` that the wire checks use.
// Ajv 8 still honours it but warns that it is deprecated, on the daemon's stderr at every start:
// that one warning is dropped, anything else Ajv says still reaches the console.
/** Validates a whole configuration against the schema (errors in `validateConfig.errors`). */
export const validateConfig = new Ajv({
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
  // both address families; a campus node with WebRTC on adds UDP 4001 (`listen-addresses.ts`)
  listen: ['/ip4/0.0.0.0/tcp/4001', '/ip6/::/tcp/4001'],
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
  originLimitSchedule: [],
  // a week, at 8 MiB/s: `node/scrub.ts`
  scrubIntervalHours: 168,
  scrubRate: 8 * 1024 * 1024,
  // the OS, logs and the other services on the machine keep working when lessons fill it
  minFreeDiskBytes: 1024 * 1024 * 1024,
  trackers: [],
  trackerIds: [],
  labels: [],
}

/** The keys a config file may hold (the daemon's settings, camelCase). */
export const SETTING_KEYS: readonly string[] = Object.keys(schema.properties)

/** An unknown key, with the setting it most likely misspells. */
export function unknownSetting(key: string): string {
  const meant = didYouMean(key, SETTING_KEYS)
  return `unknown setting ${JSON.stringify(key)}${meant === undefined ? '' : ` (did you mean ${JSON.stringify(meant)}?)`}`
}
