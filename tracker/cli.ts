/**
 * Command-line entry points run by `tracker/main.ts` (what `dandelion tracker` and `dandelion release` start):
 * `dandelion tracker [--data-dir d] [--host h] [--port n] [--release-retention 30d]
 * [--catch-up-retry 10m] [--catch-up-retry-max 24h] [--bootstrap-listen /ip4/…/tcp/…]` (its
 * flags read and checked in `cli-tracker-args.ts`) and
 * `dandelion release create|list|status|pause|resume|advance|abort|rollback ...` (in
 * `cli-release.ts`) `dandelion enroll-token create|list|revoke` (in `cli-enroll-token.ts`), `dandelion
 * operator create|list|revoke` (in `cli-operator.ts`), `dandelion backup
 * create|list|restore` (in `cli-backup.ts`), `dandelion nodes list` (in `cli-nodes.ts`) and
 * `dandelion versions list|remove` (in `cli-versions.ts`). Tokens come from flags or the variables of `cli-env.ts`.
 */
import { holdStopSignals } from '../node/cli-main.ts'
import { warnMisspeltTrackerEnv } from './cli-env.ts'
import { TRACKER_USAGE, trackerInitFromArgs } from './cli-tracker-args.ts'
import { createTracker } from './index.ts'

export { runBackupCommand } from './cli-backup.ts'
export { runEnrollTokenCommand } from './cli-enroll-token.ts'
export { runNodesCommand } from './cli-nodes.ts'
export { runOperatorCommand } from './cli-operator.ts'
export { runReleaseCommand, TrackerUnreachableError } from './cli-release.ts'
export { parseDuration } from './cli-release-args.ts'
export { runVersionsCommand } from './cli-versions.ts'

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
  /**
   * The environment its tokens come from (where no flag gives them).
   * @default process.env
   */
  env?: NodeJS.ProcessEnv
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
  const env = options.env ?? process.env
  warnMisspeltTrackerEnv(env, (line) => process.stderr.write(`${line}\n`))
  const init = trackerInitFromArgs(argv, env)
  // before the tracker exists: a signal while it starts (tracker/main.ts holds them from its
  // first line) stops it once it is up, and every copy after the first does nothing (a
  // service manager signals each process of the unit and `dandelion tracker` passes its on)
  const signal = options.signal ?? holdStopSignals({ secondSigintExits: true })
  const tracker = await createTracker(init)
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
