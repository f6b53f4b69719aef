/**
 * `dandelion origin`: the origin daemon (`dandelion upload`, the studio's upload client,
 * is in `cli-upload.ts`; what the daemon says about its tracker in `cli-tracker.ts`).
 */
import { access, mkdir } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { loadOrCreateToken } from '../node/api-token.ts'
import { holdStopSignals } from '../node/cli-main.ts'
import { misspeltEnv } from '../node/did-you-mean.ts'
import { checkTracker, registrationLine } from './cli-tracker.ts'
import { loadOriginConfig, ORIGIN_ENV_NAMES } from './config.ts'
import { createOrigin } from './index.ts'
import { attachSeeder } from './seeder.ts'
import { registerWithTracker } from './tracker-registration.ts'

const ORIGIN_HELP = `Usage: dandelion origin [options]

Runs the origin: resumable tus uploads, chunking, signed manifests, HTTP fallback.

Options (flag > environment > --config file > default):
  --host HOST               listen address            DANDELION_ORIGIN_HOST   (127.0.0.1)
  --port PORT               listen port, 0 = any      DANDELION_ORIGIN_PORT   (8080)
  --data DIR                data directory            DANDELION_ORIGIN_DATA   (./.data/origin)
  --token TOKEN             upload bearer token       DANDELION_ORIGIN_TOKEN  (generated, kept in DIR)
  --chunk-size BYTES        256 KiB..4 MiB, power of 2 DANDELION_ORIGIN_CHUNK_SIZE (1048576)
  --max-upload-bytes N      largest upload (413)      DANDELION_ORIGIN_MAX_UPLOAD_BYTES (8 GiB)
  --min-free-disk-bytes N   507 below this free space DANDELION_ORIGIN_MIN_FREE_DISK_BYTES (256 MiB)
  --upload-expiry-hours H   idle uploads expire after DANDELION_ORIGIN_UPLOAD_EXPIRY_HOURS (24)
  --private-retention-days D  homework photos (uploaded with a grant) are removed
                            D days after upload, 0 keeps them DANDELION_ORIGIN_PRIVATE_RETENTION_DAYS (30)
  --keep-versions N         keep the newest N versions of each resource, remove older ones
                            the tracker says no node uses; 0 keeps all DANDELION_ORIGIN_KEEP_VERSIONS (0)
  --scrub-interval-hours H  the seeding node reads back and hashes every stored chunk every H
                            hours, and fetches one the disk changed back from campus nodes;
                            0: never DANDELION_ORIGIN_SCRUB_INTERVAL_HOURS (168)
  --scrub-rate B/S          read rate of a scrub  DANDELION_ORIGIN_SCRUB_RATE (8388608)
  --hash-workers N          BLAKE3 worker threads     DANDELION_ORIGIN_HASH_WORKERS (cores)
  --fsync                   fdatasync every chunk     DANDELION_ORIGIN_FSYNC
  --no-direct-io            write chunks through the page cache DANDELION_ORIGIN_DIRECT_IO=false
  --log                     request logs (pino JSON)  DANDELION_ORIGIN_LOG
  --no-seed                 do not run the seeding node DANDELION_ORIGIN_SEED=false
  --p2p-listen MULTIADDR    seeding node address (repeatable) DANDELION_ORIGIN_P2P_LISTEN
                            (/ip4/127.0.0.1/tcp/4001)
  --tracker-url URL         register versions with a tracker DANDELION_ORIGIN_TRACKER_URL
  --tracker-token TOKEN     the tracker's admin token        DANDELION_ORIGIN_TRACKER_TOKEN
                            (the two go together; failures to register are printed on stderr)
  --grant-issuer ID         trust upload grants this rtc server signs (repeatable)
                            DANDELION_ORIGIN_GRANT_ISSUERS (comma-separated)
  --config FILE             JSON file with the same keys (camelCase)
  -h, --help                this help
`

const ORIGIN_FLAGS = {
  host: { type: 'string' },
  port: { type: 'string' },
  data: { type: 'string' },
  token: { type: 'string' },
  'chunk-size': { type: 'string' },
  'max-upload-bytes': { type: 'string' },
  'min-free-disk-bytes': { type: 'string' },
  'upload-expiry-hours': { type: 'string' },
  'private-retention-days': { type: 'string' },
  'keep-versions': { type: 'string' },
  'scrub-interval-hours': { type: 'string' },
  'scrub-rate': { type: 'string' },
  'hash-workers': { type: 'string' },
  fsync: { type: 'boolean' },
  log: { type: 'boolean' },
  seed: { type: 'boolean' },
  'no-seed': { type: 'boolean' },
  'no-direct-io': { type: 'boolean' },
  'p2p-listen': { type: 'string', multiple: true },
  'tracker-url': { type: 'string' },
  'tracker-token': { type: 'string' },
  'grant-issuer': { type: 'string', multiple: true },
  config: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const

const camel = (s: string): string => s.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase())

/** The origin's signing key in its data directory (`createOrigin` loads or creates it there). */
const ORIGIN_KEY_FILE = 'origin.key'

/** Whether `path` exists. */
async function exists(path: string): Promise<boolean> {
  return await access(path).then(
    () => true,
    () => false,
  )
}

/** Where the upload token is kept when none is configured. */
const tokenPath = (dataDir: string): string => join(dataDir, 'upload-token')

/**
 * How the banner shows the upload token. The token is a secret: it is printed only to a person at
 * a terminal (the interactive first run), never into the logs systemd or Docker keep of a
 * service's stdout; there the banner says where to read it instead.
 */
function shownToken(token: string, tokenFile: string | undefined): { header: string; flag: string } {
  if (process.stdout.isTTY === true) return { header: token, flag: token }
  if (tokenFile === undefined) return { header: '<the configured token>', flag: '<the configured token>' }
  return { header: `<token in ${tokenFile}>`, flag: `"$(cat '${tokenFile}')"` }
}

/** Options of {@link runOriginCommand}. */
export interface RunOriginOptions {
  /**
   * Stops the origin (gracefully) once aborted.
   * @default the process's first SIGTERM or SIGINT ({@link holdStopSignals})
   */
  signal?: AbortSignal
}

/** `dandelion origin`: runs until stopped (SIGINT/SIGTERM). */
export async function runOriginCommand(argv: string[], options: RunOriginOptions = {}): Promise<void> {
  const { values } = parseArgs({ args: argv, options: ORIGIN_FLAGS, strict: true })
  if (values.help === true) {
    process.stdout.write(ORIGIN_HELP)
    return
  }
  const {
    config: configFile,
    help: _help,
    'no-seed': noSeed,
    'no-direct-io': noDirect,
    'grant-issuer': grantIssuers,
    ...rest
  } = values
  const flags = Object.fromEntries(Object.entries(rest).map(([k, v]) => [camel(k), v]))
  // one issuer per flag, the config key holds the list
  if (grantIssuers !== undefined) flags.grantIssuers = grantIssuers
  if (noSeed === true) flags.seed = false
  if (noDirect === true) flags.directIo = false
  // a misspelt variable silently left its setting at the default
  for (const { name, meant } of misspeltEnv(process.env, ORIGIN_ENV_NAMES))
    process.stderr.write(
      `dandelion origin: WARNING: ${name} is not an origin setting and is ignored: did you mean ${meant}?\n`,
    )
  const config = await loadOriginConfig(flags, process.env, configFile)
  // before the origin exists: a SIGTERM while it starts, even before this module loaded
  // (origin/main.ts holds the signals from its first line), stops it once it is up
  const signal = options.signal ?? holdStopSignals()
  const dataDir = resolve(config.data)
  await mkdir(dataDir, { recursive: true })
  const keyFile = join(dataDir, ORIGIN_KEY_FILE)
  const newKey = !(await exists(keyFile))
  // a data directory that has published before but lost its key (restored without it, the
  // file moved away to rotate it) signs from now on with a key no node trusts yet
  const usedBefore = await exists(join(dataDir, 'catalog'))
  const tokenFile = config.token === undefined ? tokenPath(dataDir) : undefined
  const token = config.token ?? (await loadOrCreateToken(tokenPath(dataDir)))
  const shown = shownToken(token, tokenFile)
  const origin = await createOrigin({
    dataDir,
    token,
    host: config.host,
    port: config.port,
    chunkSize: config.chunkSize,
    maxUploadBytes: config.maxUploadBytes,
    minFreeDiskBytes: config.minFreeDiskBytes,
    uploadExpiryMs: config.uploadExpiryHours * 3600_000,
    privateRetentionMs: config.privateRetentionDays * 24 * 3600_000,
    keepVersions: config.keepVersions,
    hashWorkers: config.hashWorkers,
    fsync: config.fsync,
    directIo: config.directIo,
    logger: config.log,
    grantIssuers: config.grantIssuers,
  })
  const peerId = peerIdFromPrivateKey(origin.privateKey)
  let seeder: Awaited<ReturnType<typeof attachSeeder>> | undefined
  try {
    seeder = config.seed
      ? await attachSeeder(origin, {
          listen: [...config.p2pListen],
          // the origin's store holds the only full copy of what campuses lack: scrubbed as theirs are
          scrub: {
            intervalMs: config.scrubIntervalHours * 3600_000,
            bytesPerSecond: config.scrubRate,
            file: join(dataDir, 'scrub.json'),
            onCorrupt: (chunk) =>
              process.stderr.write(
                `dandelion origin: WARNING: chunk ${chunk} was corrupt on this disk: dropped, fetching it back from campus nodes (a failing disk? check it)\n`,
              ),
          },
        })
      : undefined
  } catch (err) {
    // a seeding node that cannot start (say, its port is taken) must not leave a half-running origin
    await origin.close()
    throw err
  }
  const unregister =
    config.trackerUrl !== undefined && config.trackerToken !== undefined
      ? registerWithTracker(origin, {
          trackerUrl: config.trackerUrl,
          token: config.trackerToken,
          onEvent: (e) => process.stderr.write(`${registrationLine(config.trackerUrl!, e)}\n`),
        })
      : undefined
  const trackerNote =
    config.trackerUrl !== undefined && config.trackerToken !== undefined
      ? await checkTracker(config.trackerUrl, config.trackerToken)
      : ''
  // aborted once, however many signals came: a group SIGTERM (systemd's
  // KillMode=control-group) reaches the origin twice, `dandelion origin` passing its own on
  const stopped = new Promise<void>((resolveStop, rejectStop) => {
    const stop = (): void => {
      process.stdout.write('stopping origin…\n')
      unregister?.()
      Promise.resolve(seeder?.stop())
        .then(() => origin.close())
        .then(resolveStop, rejectStop)
    }
    if (signal.aborted) stop()
    else signal.addEventListener('abort', stop, { once: true })
  })
  // the banner only for an origin that is not already stopping
  if (signal.aborted) return await stopped
  process.stdout.write(
    [
      `Dandelion origin listening on ${origin.url}`,
      `  uploads (tus 1.0)  ${origin.url}/uploads   Authorization: Bearer ${shown.header}`,
      `  resources          ${origin.url}/resources`,
      `  health, metrics    ${origin.url}/healthz  ${origin.url}/metrics`,
      `  data directory     ${dataDir}`,
      `  origin key         ${peerId.toString()} (signs every manifest; campus nodes trust it with --trusted-origin)`,
      ...(newKey
        ? [
            `                     created now in ${keyFile}: back it up; the seeding node's PeerId is this key too`,
          ]
        : []),
      ...(seeder === undefined
        ? ['  seeding node       off (--no-seed)']
        : seeder.node.multiaddrs.map(
            (a, i) =>
              `  seeding node       ${a.toString()}${i === 0 ? ' (campus nodes list it with --bootstrap)' : ''}`,
          )),
      `  tracker            ${config.trackerUrl ?? 'none (--tracker-url to register versions)'}${trackerNote}`,
      `  upload grants      ${config.grantIssuers?.join(', ') || "none trusted (--grant-issuer for the rtc server's photo grants)"}`,
      '',
      'Upload a lesson:',
      // --silent: npm echoes the command it runs, token included, into the output kept
      `  npm run ${process.stdout.isTTY === true ? '' : '--silent '}dandelion -- upload lesson.mp4 --origin ${origin.url} --token ${shown.flag} --name grade3-math-07 --type video`,
      '',
    ].join('\n'),
  )
  if (newKey && usedBefore)
    process.stderr.write(
      `dandelion origin: WARNING: ${keyFile} was missing, so a new signing key was created (${peerId.toString()}), ` +
        'but this data directory was used before (it has a catalog): anything it published is signed by another key. Campus nodes refuse what this key ' +
        'signs until they are given it (--trusted-origin, beside the old key: what the old key signed is served ' +
        'only while they still trust it), and their --bootstrap must name the new seeding node. If the key was ' +
        `lost by mistake, stop the origin and restore ${keyFile} from a backup.\n`,
    )
  await stopped
}
