/**
 * Typed errors of the tracker's state store: a change that could not be saved (or the state
 * reloading after one), and a data directory another tracker holds.
 */
import { DandelionError } from '../node/errors.ts'
import { TrackerError } from './base-errors.ts'

/**
 * A change could not be saved (disk full, I/O error), or the tracker is reloading its state
 * after such a failure. Nothing of the change was applied: readers never saw it, and the
 * tracker goes on serving what is on disk. Retry once the disk is fixed.
 */
export class StateUnavailableError extends TrackerError {
  override name = 'StateUnavailableError'
  constructor(options?: ErrorOptions & { reloading?: boolean }) {
    const cause = options?.cause instanceof Error ? `: ${options.cause.message}` : ''
    super(
      options?.reloading === true
        ? `the tracker is reloading its state after a failed write${cause}; retry the change`
        : `saving the tracker state failed${cause}; the change was not applied`,
      'ERR_STATE_UNAVAILABLE',
      503,
      options?.cause === undefined ? undefined : { cause: options.cause },
    )
  }
}

/**
 * The tracker's data directory is in use: another tracker process (or another tracker in
 * this process) holds the lock of its state. One tracker is the single writer of its state;
 * a second one on the same directory cannot start until the first has stopped.
 */
export class StateLockedError extends DandelionError {
  override name = 'StateLockedError'
  /** The data directory. */
  readonly dir: string
  constructor(dir: string, options?: ErrorOptions) {
    super(
      `another tracker is running on ${dir}: its state (${dir}/state) is locked by that process; stop it first, or give this tracker its own --data-dir`,
      'ERR_STATE_LOCKED',
      options,
    )
    this.dir = dir
  }
}
