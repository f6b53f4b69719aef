/**
 * Command-line entry points run by `tracker/main.ts` (what `dandelion tracker` and `dandelion release` start):
 * `dandelion tracker [--data-dir d] [--host h] [--port n] [--release-retention 30d] [--bootstrap-listen /ip4/…/tcp/…]` and
 * `dandelion release create|list|status|pause|resume|advance|abort|rollback ...` (in
 * `cli-release.ts`). Tokens come from flags or `DANDELION_ADMIN_TOKEN` / `DANDELION_ENROLLMENT_TOKEN`.
 */
import { parseArgs } from 'node:util'
import { holdStopSignals } from '../node/cli-main.ts'
import { InvalidConfigError } from '../node/errors.ts'
import { parseDuration } from './cli-release-args.ts'
import { createTracker } from './index.ts'

export { runReleaseCommand, TrackerUnreachableError } from './cli-release.ts'
export { parseDuration } from './cli-release-args.ts'

const out = (s: string): void => {
  process.stdout.write(s + '\n')
}

/** Options of {@link runTrackerCommand}. */
export interface RunTrackerOptions {
  /**
   * Stops the tracker (gracefully) once aborted.
   * @default the process's first SIGTERM or SIGINT ({@link holdStopSignals})
   */
  signal?: AbortSignal
}

/**
 * Starts a tracker, prints one JSON line `{ url, channelUrl, trackerId, bootstrap }` on stdout
 * and runs it until `options.signal` aborts; resolves once it has stopped (`stopping tracker…`
 * on stderr: stdout carries only that JSON line).
 */
export async function runTrackerCommand(argv: string[], options: RunTrackerOptions = {}): Promise<void> {
  if (argv.includes('--help') || argv.includes('-h')) {
    out(TRACKER_USAGE)
    return
  }
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      'data-dir': { type: 'string', default: './data/tracker' },
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '7070' },
      'admin-token': { type: 'string' },
      'enrollment-token': { type: 'string' },
      'retransmit-ms': { type: 'string' },
      /** How long finished releases keep their per-node states (a duration, 0 = for ever). */
      'release-retention': { type: 'string' },
      /** libp2p listen address of the DHT bootstrap host (repeatable); none = no host. */
      'bootstrap-listen': { type: 'string', multiple: true },
    },
  })
  const adminToken = values['admin-token'] ?? process.env.DANDELION_ADMIN_TOKEN
  const enrollmentToken = values['enrollment-token'] ?? process.env.DANDELION_ENROLLMENT_TOKEN
  const missing = [
    ...(adminToken === undefined ? ['the admin token (--admin-token or DANDELION_ADMIN_TOKEN)'] : []),
    ...(enrollmentToken === undefined
      ? ['the enrollment token (--enrollment-token or DANDELION_ENROLLMENT_TOKEN)']
      : []),
  ]
  if (adminToken === undefined || enrollmentToken === undefined)
    throw new InvalidConfigError(`${missing.join(' and ')} ${missing.length > 1 ? 'are' : 'is'} required`)
  const port = Number(values.port)
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new InvalidConfigError(`bad port ${values.port}`)
  const retentionFlag = values['release-retention']
  const releaseRetentionMs =
    retentionFlag === undefined ? undefined : retentionFlag.trim() === '0' ? 0 : parseDuration(retentionFlag)
  if (releaseRetentionMs === undefined && retentionFlag !== undefined)
    throw new InvalidConfigError(
      `--release-retention ${JSON.stringify(retentionFlag)}: a duration such as 30d or 12h, or 0 to keep releases for ever`,
    )
  // before the tracker exists: a signal while it starts (tracker/main.ts holds them from its
  // first line) stops it once it is up, and every copy after the first does nothing (a
  // service manager signals each process of the unit and `dandelion tracker` passes its on)
  const signal = options.signal ?? holdStopSignals({ secondSigintExits: true })
  const tracker = await createTracker({
    dataDir: values['data-dir'],
    host: values.host,
    port,
    adminToken,
    enrollmentToken,
    retransmitInitialMs: values['retransmit-ms'] === undefined ? undefined : Number(values['retransmit-ms']),
    releaseRetentionMs,
    bootstrap: values['bootstrap-listen'] === undefined ? false : { listen: values['bootstrap-listen'] },
  })
  const stopped = new Promise<void>((resolve, reject) => {
    const stop = (): void => {
      process.stderr.write('stopping tracker…\n')
      tracker.close().then(resolve, reject)
    }
    if (signal.aborted) stop()
    else signal.addEventListener('abort', stop, { once: true })
  })
  // the ready line only for a tracker that is not already stopping
  if (!signal.aborted)
    out(
      JSON.stringify({
        url: tracker.url,
        channelUrl: tracker.channelUrl,
        trackerId: tracker.trackerId,
        bootstrap: tracker.bootstrapAddrs,
      }),
    )
  await stopped
}

const TRACKER_USAGE = `Usage: dandelion tracker [options]
  --data-dir <dir>            state (level) and the tracker's key         [./data/tracker]
  --host <host>                                                          [127.0.0.1]
  --port <port>               0 = any free port                          [7070]
  --admin-token <t>           or DANDELION_ADMIN_TOKEN (bearer of /api/v1)
  --enrollment-token <t>      or DANDELION_ENROLLMENT_TOKEN (node enrollment)
  --retransmit-ms <ms>        first retransmit delay of an unACKed command [5000]
  --release-retention <d>     finished releases keep their per-node states this long, then
                              are compacted (no rollback) and, once they decide nothing,
                              may be deleted; 0 = keep every release for ever  [30d]
  --bootstrap-listen <maddr>  run a libp2p DHT bootstrap host (repeatable)
Prints {"url","channelUrl","trackerId","bootstrap"} as one JSON line once listening;
trackerId is the key nodes obey (dandelion node --tracker-id), kept in <data-dir>/tracker.key.
\`dandelion tracker\` runs Node with --max-semi-space-size=1 (the RSS budget at 5,000 nodes, see
tracker/README.md); give it yourself (NODE_OPTIONS) only when starting tracker/main.ts directly.`
