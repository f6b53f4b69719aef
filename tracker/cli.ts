/**
 * Command-line entry points run by `tracker/main.ts` (what `dandelion tracker` and `dandelion release` start):
 * `dandelion tracker [--data-dir d] [--host h] [--port n] [--bootstrap-listen /ip4/…/tcp/…]` and
 * `dandelion release create|list|status|pause|resume|advance|abort|rollback ...` (in
 * `cli-release.ts`). Tokens come from flags or `DANDELION_ADMIN_TOKEN` / `DANDELION_ENROLLMENT_TOKEN`.
 */
import { parseArgs } from 'node:util'
import { InvalidConfigError } from '../node/errors.ts'
import { createTracker, type Tracker } from './index.ts'

export { runReleaseCommand, TrackerUnreachableError } from './cli-release.ts'
export { parseDuration } from './cli-release-args.ts'

const out = (s: string): void => {
  process.stdout.write(s + '\n')
}

/**
 * Starts a tracker and prints one JSON line `{ url, channelUrl, trackerId, bootstrap }` on stdout. Closes on
 * SIGINT/SIGTERM. Returns the running tracker.
 */
export async function runTrackerCommand(argv: string[]): Promise<Tracker | undefined> {
  if (argv.includes('--help') || argv.includes('-h')) {
    out(TRACKER_USAGE)
    return undefined
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
  const tracker = await createTracker({
    dataDir: values['data-dir'],
    host: values.host,
    port,
    adminToken,
    enrollmentToken,
    retransmitInitialMs: values['retransmit-ms'] === undefined ? undefined : Number(values['retransmit-ms']),
    bootstrap: values['bootstrap-listen'] === undefined ? false : { listen: values['bootstrap-listen'] },
  })
  // `on`, once only: a service manager stopping the unit signals every process of it
  // (systemd's KillMode=control-group) and `dandelion tracker` passes its own SIGTERM on, so
  // the tracker gets two; with `once` the second killed it midway through closing its state
  let stopping = false
  const stop = (): void => {
    if (stopping) return
    stopping = true
    tracker.close().then(
      () => process.exit(0),
      () => process.exit(1),
    )
  }
  // a second Ctrl-C still ends it at once; both before the ready line, which a service
  // manager may answer with a SIGTERM at once (it killed the tracker when it came first)
  process.once('SIGINT', stop)
  process.on('SIGTERM', stop)
  out(
    JSON.stringify({
      url: tracker.url,
      channelUrl: tracker.channelUrl,
      trackerId: tracker.trackerId,
      bootstrap: tracker.bootstrapAddrs,
    }),
  )
  return tracker
}

const TRACKER_USAGE = `Usage: dandelion tracker [options]
  --data-dir <dir>            state (level) and the tracker's key         [./data/tracker]
  --host <host>                                                          [127.0.0.1]
  --port <port>               0 = any free port                          [7070]
  --admin-token <t>           or DANDELION_ADMIN_TOKEN (bearer of /api/v1)
  --enrollment-token <t>      or DANDELION_ENROLLMENT_TOKEN (node enrollment)
  --retransmit-ms <ms>        first retransmit delay of an unACKed command [5000]
  --bootstrap-listen <maddr>  run a libp2p DHT bootstrap host (repeatable)
Prints {"url","channelUrl","trackerId","bootstrap"} as one JSON line once listening;
trackerId is the key nodes obey (dandelion node --tracker-id), kept in <data-dir>/tracker.key.
\`dandelion tracker\` runs Node with --max-semi-space-size=1 (the RSS budget at 5,000 nodes, see
tracker/README.md); give it yourself (NODE_OPTIONS) only when starting tracker/main.ts directly.`
