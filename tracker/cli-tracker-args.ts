/**
 * The flags of `dandelion tracker`, read into what `createTracker` takes. Every value is
 * checked here, before anything starts, and a wrong one is a usage error naming the flag and
 * the value: `createTracker`'s own check names its option (`catchUpRetryMaxMs`), which an
 * operator never typed.
 */
import { parseArgs } from 'node:util'
import { InvalidConfigError } from '../node/errors.ts'
import { TRACKER_ENV, type TrackerEnv, trackerEnvValue } from './cli-env.ts'
import { parseDuration } from './cli-release-args.ts'
import { CATCH_UP_RETRY_MAX_MS } from './constants.ts'
import type { TrackerInit } from './index.ts'

/** `dandelion tracker --help`. */
export const TRACKER_USAGE = `Usage: dandelion tracker [options]
  --data-dir <dir>            state (level) and the tracker's key         [./data/tracker]
  --host <host>                                                          [127.0.0.1]
  --port <port>               0 = any free port                          [7070]
  --admin-token <t>           or DANDELION_ADMIN_TOKEN (bearer of /api/v1)
  --viewer-token <t>          or DANDELION_VIEWER_TOKEN: reads the admin API only (GET: lists,
                              status, event streams), for dashboards; none unless given
  --enrollment-token <t>      or DANDELION_ENROLLMENT_TOKEN: a shared token any node may enroll
                              with, into any campus; none: nodes enroll only with tokens
                              issued for them (dandelion enroll-token create)
  --retransmit-ms <ms>        first retransmit delay of an unACKed command [5000]
  --release-retention <d>     finished releases keep their per-node states this long, then
                              are compacted (no rollback) and, once they decide nothing,
                              may be deleted; 0 = keep every release for ever  [30d]
  --catch-up-retry <d>        a node that joined a completed release late and failed its
                              place is sent it again after this, doubled at each failure [10m]
  --catch-up-retry-max <d>    longest delay between two such attempts; at least
                              --catch-up-retry (a shorter one alone caps the first delay too) [24h]
  --bootstrap-listen <maddr>  run a libp2p DHT bootstrap host (repeatable)
  --backup-interval <d>       take a backup into <data-dir>/backups/ this often, while running
                              (dandelion backup create takes one on request)  [none]
  --backup-keep <n>           backups kept, newest first                     [7]
Durations: a number and a unit, ms, s, m, h or d (90s, 10m, 24h, 30d).
Prints {"url","channelUrl","trackerId","bootstrap"} as one JSON line once listening;
trackerId is the key nodes obey (dandelion node --tracker-id), kept in <data-dir>/tracker.key.
\`dandelion tracker\` runs Node with --max-semi-space-size=1 (the RSS budget at 5,000 nodes, see
tracker/README.md); give it yourself (NODE_OPTIONS) only when starting tracker/main.ts directly.`

const HOUR_MS = 3_600_000

/** Milliseconds of the duration flag `flag`, if given; else a usage error saying what it takes. */
function durationFlag(flag: string, text: string | undefined, expected: string): number | undefined {
  if (text === undefined) return undefined
  const ms = parseDuration(text)
  if (ms === undefined) throw new InvalidConfigError(`${flag} ${JSON.stringify(text)}: ${expected}`)
  return ms
}

/**
 * The tracker `dandelion tracker <argv>` starts (`--help` is the caller's): its flags, tokens
 * from `env` where no flag gives them (a blank variable is unset). Throws
 * {@link InvalidConfigError} naming the flag of a missing or wrong value.
 */
export function trackerInitFromArgs(argv: string[], env: TrackerEnv = process.env): TrackerInit {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      'data-dir': { type: 'string', default: './data/tracker' },
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '7070' },
      'admin-token': { type: 'string' },
      'viewer-token': { type: 'string' },
      'enrollment-token': { type: 'string' },
      'retransmit-ms': { type: 'string' },
      /** How long finished releases keep their per-node states (a duration, 0 = for ever). */
      'release-retention': { type: 'string' },
      /** First delay of a late member's catch-up retry (a duration). */
      'catch-up-retry': { type: 'string' },
      /** Longest delay between two catch-up attempts (a duration). */
      'catch-up-retry-max': { type: 'string' },
      /** libp2p listen address of the DHT bootstrap host (repeatable); none = no host. */
      'bootstrap-listen': { type: 'string', multiple: true },
      /** Time between two scheduled backups (a duration). */
      'backup-interval': { type: 'string' },
      /** Backups kept. */
      'backup-keep': { type: 'string' },
    },
  })
  const adminToken = values['admin-token'] ?? trackerEnvValue(env, 'adminToken')
  // a blank token variable is unset: no shared enrollment token (nodes enroll only with
  // tokens issued through the API), no viewer token, both stricter than any token
  const enrollmentToken = values['enrollment-token'] ?? trackerEnvValue(env, 'enrollmentToken')
  const viewerToken = values['viewer-token'] ?? trackerEnvValue(env, 'viewerToken')
  if (adminToken === undefined)
    throw new InvalidConfigError(
      `the admin token (--admin-token or ${TRACKER_ENV.adminToken}) is required` +
        (env[TRACKER_ENV.adminToken] === '' ? `: ${TRACKER_ENV.adminToken} is empty` : ''),
    )
  const port = Number(values.port)
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new InvalidConfigError(`bad port ${values.port}`)
  const retentionFlag = values['release-retention']
  const releaseRetentionMs =
    retentionFlag?.trim() === '0'
      ? 0
      : durationFlag(
          '--release-retention',
          retentionFlag,
          'a duration such as 30d or 12h, or 0 to keep releases for ever',
        )
  const catchUpRetryInitialMs = durationFlag(
    '--catch-up-retry',
    values['catch-up-retry'],
    'a duration above 0 such as 10m or 1h',
  )
  const catchUpRetryMaxMs = durationFlag(
    '--catch-up-retry-max',
    values['catch-up-retry-max'],
    'a duration above 0 such as 24h or 6h',
  )
  // A first delay longer than the cap would be cut to the cap without a word. A cap alone
  // below the default first delay is taken as given: every delay is then the cap.
  if (
    catchUpRetryInitialMs !== undefined &&
    catchUpRetryInitialMs > (catchUpRetryMaxMs ?? CATCH_UP_RETRY_MAX_MS)
  )
    throw new InvalidConfigError(
      catchUpRetryMaxMs === undefined
        ? `--catch-up-retry ${JSON.stringify(values['catch-up-retry'])}: longer than the longest delay, ` +
            `${CATCH_UP_RETRY_MAX_MS / HOUR_MS}h by default: raise --catch-up-retry-max too`
        : `--catch-up-retry-max ${JSON.stringify(values['catch-up-retry-max'])}: shorter than ` +
            `--catch-up-retry ${JSON.stringify(values['catch-up-retry'])}; the longest delay is at least the first`,
    )
  const backupIntervalMs = durationFlag(
    '--backup-interval',
    values['backup-interval'],
    'a duration above 0 such as 24h or 6h',
  )
  const keepText = values['backup-keep']
  const backupKeep = keepText === undefined ? undefined : Number(keepText)
  if (
    backupKeep !== undefined &&
    !(/^\d+$/.test(keepText as string) && backupKeep >= 1 && backupKeep <= 1000)
  )
    throw new InvalidConfigError(
      `--backup-keep ${JSON.stringify(keepText)}: a whole number of backups from 1 to 1000`,
    )
  return {
    dataDir: values['data-dir'],
    backupIntervalMs,
    backupKeep,
    host: values.host,
    port,
    adminToken,
    ...(enrollmentToken === undefined || enrollmentToken === '' ? {} : { enrollmentToken }),
    ...(viewerToken === undefined || viewerToken === '' ? {} : { viewerToken }),
    retransmitInitialMs: values['retransmit-ms'] === undefined ? undefined : Number(values['retransmit-ms']),
    releaseRetentionMs,
    catchUpRetryInitialMs,
    catchUpRetryMaxMs,
    bootstrap: values['bootstrap-listen'] === undefined ? false : { listen: values['bootstrap-listen'] },
  }
}
