/**
 * The `DANDELION_*` environment every service shares: an env file or a shell may hold the
 * variables of all four (the node's, the origin's, the tracker's, rtc's), so a service
 * reads its own and must not mistake a colleague's for a misspelling of one of them.
 */

/**
 * Every `DANDELION_*` variable a Dandelion process reads, whichever service or command:
 * never a misspelling (`misspeltEnv`). Each service keeps its own list beside the code that
 * reads it (`NODE_ENV_NAMES`, `ORIGIN_ENV_NAMES`, `TRACKER_ENV_NAMES`, `RTC_ENV_NAMES`);
 * `node/` imports no other service, so their names are repeated here, and
 * test/node/dandelion-env.test.ts holds this list to the union of theirs.
 */
export const DANDELION_ENV_NAMES: readonly string[] = [
  // the node daemon and `dandelion fetch` / `limits` / `status`
  'DANDELION_API_TOKEN',
  'DANDELION_BLAKE3',
  'DANDELION_BOOTSTRAP',
  'DANDELION_CAMPUS',
  'DANDELION_CITY',
  'DANDELION_CONFIG',
  'DANDELION_DATA',
  'DANDELION_DHT',
  'DANDELION_DIRECT_IO',
  'DANDELION_DOWNLOAD_LIMIT',
  'DANDELION_ENROLLMENT_TOKEN',
  'DANDELION_HASH_WORKERS',
  'DANDELION_LABELS',
  'DANDELION_LISTEN',
  'DANDELION_MDNS',
  'DANDELION_MIN_FREE_DISK_BYTES',
  'DANDELION_NODE_ID',
  'DANDELION_NODE_URL',
  'DANDELION_ORIGIN',
  'DANDELION_ORIGIN_LIMIT',
  'DANDELION_ORIGIN_LIMIT_SCHEDULE',
  'DANDELION_PLAYBACK_HOST',
  'DANDELION_PLAYBACK_PORT',
  'DANDELION_QUOTA_BYTES',
  'DANDELION_ROLE',
  'DANDELION_SCRUB_INTERVAL_HOURS',
  'DANDELION_SCRUB_RATE',
  'DANDELION_TRACKERS',
  'DANDELION_TRACKER_IDS',
  'DANDELION_TRUSTED_ORIGINS',
  'DANDELION_TRUST_ANY_ORIGIN',
  'DANDELION_UPLOAD_LIMIT',
  'DANDELION_WEBRTC',
  // the origin and `dandelion upload` / `remove-version`
  'DANDELION_ORIGIN_CHUNK_SIZE',
  'DANDELION_ORIGIN_DATA',
  'DANDELION_ORIGIN_DIRECT_IO',
  'DANDELION_ORIGIN_FSYNC',
  'DANDELION_ORIGIN_GRANT_ISSUERS',
  'DANDELION_ORIGIN_HASH_WORKERS',
  'DANDELION_ORIGIN_HOST',
  'DANDELION_ORIGIN_KEEP_VERSIONS',
  'DANDELION_ORIGIN_LOG',
  'DANDELION_ORIGIN_MAX_UPLOAD_BYTES',
  'DANDELION_ORIGIN_MIN_FREE_DISK_BYTES',
  'DANDELION_ORIGIN_P2P_LISTEN',
  'DANDELION_ORIGIN_PORT',
  'DANDELION_ORIGIN_PRIVATE_RETENTION_DAYS',
  'DANDELION_ORIGIN_SCRUB_INTERVAL_HOURS',
  'DANDELION_ORIGIN_SCRUB_RATE',
  'DANDELION_ORIGIN_SEED',
  'DANDELION_ORIGIN_TOKEN',
  'DANDELION_ORIGIN_TRACKER_TOKEN',
  'DANDELION_ORIGIN_TRACKER_URL',
  'DANDELION_ORIGIN_UPLOAD_EXPIRY_HOURS',
  'DANDELION_ORIGIN_URL',
  'DANDELION_TOKEN',
  // the tracker and its operators' commands (DANDELION_ENROLLMENT_TOKEN above)
  'DANDELION_ADMIN_TOKEN',
  'DANDELION_TRACKER_URL',
  'DANDELION_VIEWER_TOKEN',
  // rtc
  'DANDELION_RTC_ICE_SERVERS',
  'DANDELION_RTC_OPS_TOKEN',
  'DANDELION_RTC_PREVIOUS_SECRETS',
  'DANDELION_RTC_SECRET',
  'DANDELION_RTC_TURN_SECRET',
  // `dandelion` to the daemon it starts (cli-main.ts SIGNALS_HELD_FD_ENV)
  'DANDELION_SIGNALS_HELD_FD',
]

/**
 * The value of the variable `name` in `env`, `undefined` when it is unset or blank: a
 * `VAR=` line left empty in an env file (as the `deploy/*.env.example` files ship them)
 * means the same as no line, in every service, as the node daemon has always read it.
 */
export function envValue<K extends string>(
  env: Readonly<Partial<Record<K, string>>>,
  name: K,
): string | undefined {
  const value = env[name]
  return value === '' ? undefined : value
}
