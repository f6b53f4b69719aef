/**
 * `dandelion origin` (the origin daemon) and `dandelion upload` (the studio's upload
 * client, resumable across restarts, with a progress bar).
 */
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { access, mkdir, stat } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import cliProgress from 'cli-progress'
import { loadOrCreateToken } from '../node/api-token.ts'
import { holdStopSignals } from '../node/cli-main.ts'
import { CONTENT_TYPES, type ContentType } from '../node/content/index.ts'
import { misspeltEnv } from '../node/did-you-mean.ts'
import { DandelionError, InvalidConfigError } from '../node/errors.ts'
import { UploadFailedError, uploadFile } from './client.ts'
import { loadOriginConfig, ORIGIN_ENV_NAMES } from './config.ts'
import { createOrigin } from './index.ts'
import { attachSeeder } from './seeder.ts'
import { registerWithTracker, type TrackerRegistrationEvent } from './tracker-registration.ts'

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

const UPLOAD_HELP = `Usage: dandelion upload FILE --origin URL --name NAME --type TYPE [options]

Uploads FILE to an origin over tus. Run it again after an interruption (even a killed
process) and it resumes where it stopped.

Options:
  --origin URL        origin base URL          DANDELION_ORIGIN_URL
  --token TOKEN       upload bearer token      DANDELION_TOKEN
  --name NAME         resource name (versions 1, 2, 3… per name)
  --type TYPE         ${CONTENT_TYPES.join(' | ')}
  --mime MIME         MIME type (default: from the file extension)
  --checksum          send the file's sha256 so the origin verifies it before publishing
  --state FILE        where resumable uploads are remembered (~/.dandelion/uploads.json)
  --quiet             no progress bar
  -h, --help          this help
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

/** How long the origin waits, at start, for the tracker to answer its token check. */
const TRACKER_CHECK_MS = 5000

/**
 * Asks the tracker, once at start, whether it takes `token` (an authenticated read of its
 * catalog). Returns what the banner should add to the tracker line, so the operator reads
 * it beside the tracker's URL; registration's own failures come later, on stderr
 * ({@link registrationLine}).
 */
async function checkTracker(trackerUrl: string, token: string): Promise<string> {
  try {
    const res = await fetch(`${trackerUrl.replace(/\/$/, '')}/api/v1/resources`, {
      headers: { authorization: `Bearer ${token}` },
      signal: AbortSignal.timeout(TRACKER_CHECK_MS),
      // as registration: a redirect is not followed (it would drop the token), but named
      redirect: 'manual',
    })
    if (res.ok) return ''
    if (res.status >= 300 && res.status < 400)
      return `  WARNING: the tracker URL redirects (${res.status} to ${res.headers.get('location') ?? 'nowhere named'}): no version is registered there; set --tracker-url to the tracker's own address`
    const body = (await res.json().catch(() => ({}))) as { error?: { code?: string } }
    const what = `${res.status}${body.error?.code === undefined ? '' : ` ${body.error.code}`}`
    if (res.status === 401 || res.status === 403)
      return `  WARNING: the tracker refused --tracker-token (${what}): no version is registered until it accepts it; use the tracker's admin token`
    return `  WARNING: the tracker answered ${what}; versions are registered once it accepts them`
  } catch (err) {
    const cause = (err as Error).cause instanceof Error ? ((err as Error).cause as Error) : (err as Error)
    return `  WARNING: the tracker cannot be reached now (${cause.message}); versions are retried until it answers`
  }
}

/** A registration event as the line the origin daemon prints on stderr. */
export function registrationLine(trackerUrl: string, e: TrackerRegistrationEvent): string {
  const prefix = 'dandelion origin: tracker registration:'
  switch (e.type) {
    case 'failing': {
      const next = `${e.pending} version(s) wait; next attempt in ${Math.round(e.retryInMs / 1000)} s (${e.attempts} failed in a row)`
      return e.tokenRefused
        ? `${prefix} ERROR: ${e.reason}: --tracker-token (DANDELION_ORIGIN_TRACKER_TOKEN) must be the admin token of the tracker at ${trackerUrl}; ${next}`
        : `${prefix} ERROR: ${e.reason} (tracker ${trackerUrl}); ${next}`
    }
    case 'refused':
      return `${prefix} ERROR: the tracker at ${trackerUrl} refused ${e.name} v${e.version} (${e.reason}); it is not registered`
    case 'recovered':
      return `${prefix} the tracker at ${trackerUrl} accepts registrations again (after ${e.attempts} failed attempts); ${e.pending} version(s) still wait`
  }
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
    hashWorkers: config.hashWorkers,
    fsync: config.fsync,
    directIo: config.directIo,
    logger: config.log,
    grantIssuers: config.grantIssuers,
  })
  const peerId = peerIdFromPrivateKey(origin.privateKey)
  let seeder: Awaited<ReturnType<typeof attachSeeder>> | undefined
  try {
    seeder = config.seed ? await attachSeeder(origin, { listen: [...config.p2pListen] }) : undefined
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

/**
 * `dandelion upload` could not reach the origin (nothing listens at `--origin`, a wrong port,
 * a name that does not resolve). tus-js-client's own message for it is a request dump.
 */
export class OriginUnreachableError extends DandelionError {
  override name = 'OriginUnreachableError'
  constructor(origin: string, cause: Error) {
    super(
      `cannot reach the origin at ${origin} (${cause.message}): is "dandelion origin" running, and is --origin the URL its banner prints ("listening on")?`,
      'ERR_ORIGIN_UNREACHABLE',
      { cause },
    )
  }
}

/** The origin refused `dandelion upload`'s token (401 or 403). */
export class UploadTokenRefusedError extends DandelionError {
  override name = 'UploadTokenRefusedError'
  constructor(origin: string, status: number, reason: string) {
    super(
      `the origin at ${origin} refused the upload token (${status}: ${reason}): use its token, the "Authorization: Bearer" of its banner or the upload-token file in its data directory (--token, DANDELION_TOKEN)`,
      'ERR_UPLOAD_TOKEN_REFUSED',
    )
  }
}

/** What an upload failure means to the person who ran the command. */
function uploadError(err: unknown, origin: string): unknown {
  if (!(err instanceof UploadFailedError)) return err
  if (err.status === 401 || err.status === 403)
    return new UploadTokenRefusedError(origin, err.status, err.message)
  if (err.status === undefined) {
    // no answer at all: tus keeps the socket's error as `causingError`
    const causing = (err.cause as { causingError?: unknown } | undefined)?.causingError
    if (causing instanceof Error && typeof (causing as { code?: unknown }).code === 'string')
      return new OriginUnreachableError(origin, causing)
  }
  return err
}

/** `dandelion upload`: resolves once the origin has published the version. */
export async function runUploadCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      origin: { type: 'string' },
      token: { type: 'string' },
      name: { type: 'string' },
      type: { type: 'string' },
      mime: { type: 'string' },
      checksum: { type: 'boolean' },
      state: { type: 'string' },
      quiet: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  })
  if (values.help === true) {
    process.stdout.write(UPLOAD_HELP)
    return
  }
  const file = positionals[0]
  const origin = values.origin ?? process.env.DANDELION_ORIGIN_URL
  const token = values.token ?? process.env.DANDELION_TOKEN
  const missing = [
    file === undefined ? 'FILE' : undefined,
    origin === undefined ? '--origin' : undefined,
    token === undefined ? '--token' : undefined,
    values.name === undefined ? '--name' : undefined,
    values.type === undefined ? '--type' : undefined,
  ].filter((m) => m !== undefined)
  if (missing.length > 0)
    throw new InvalidConfigError(`missing ${missing.join(', ')}; see dandelion upload --help`)
  if (!(CONTENT_TYPES as readonly string[]).includes(values.type!)) {
    throw new InvalidConfigError(`--type must be one of ${CONTENT_TYPES.join(', ')}`)
  }
  const size = (await stat(file!)).size
  let sha256: string | undefined
  if (values.checksum === true) {
    const h = createHash('sha256')
    for await (const piece of createReadStream(file!)) h.update(piece as Buffer)
    sha256 = h.digest('hex')
  }
  const bar =
    values.quiet === true
      ? undefined
      : new cliProgress.SingleBar(
          {
            format: 'uploading [{bar}] {percentage}% | {value}/{total} MiB | {speed} MiB/s',
            stream: process.stderr,
          },
          cliProgress.Presets.shades_classic,
        )
  const started = Date.now()
  bar?.start(Math.ceil(size / 1048576), 0, { speed: '0' })
  const result = await uploadFile(file!, {
    origin: origin!,
    token: token!,
    name: values.name!,
    type: values.type as ContentType,
    mime: values.mime,
    sha256,
    stateFile: values.state ?? join(homedir(), '.dandelion', 'uploads.json'),
    onProgress: (sent) => {
      const seconds = Math.max((Date.now() - started) / 1000, 0.001)
      bar?.update(Math.floor(sent / 1048576), { speed: (sent / 1048576 / seconds).toFixed(0) })
    },
  })
    .catch((err: unknown) => {
      throw uploadError(err, origin!)
    })
    .finally(() => bar?.stop())
  process.stdout.write(
    `${result.resumed ? 'resumed and ' : ''}published ${result.name} version ${result.version}\nmanifest ${result.manifestCid}\n`,
  )
}
