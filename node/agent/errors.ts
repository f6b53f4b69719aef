/** Typed errors of the tracker agent. Match them by `name` or `code`, never by message text. */
import { DandelionError } from '../errors.ts'

/**
 * The agent's journal could not be opened and was left as it is: locked by another
 * process (two daemons on one data directory), unreadable, or damaged and neither
 * repairable nor movable aside. `cause` is the storage error.
 */
export class JournalOpenError extends DandelionError {
  override name = 'JournalOpenError'
  readonly dir: string
  constructor(dir: string, message: string, options?: ErrorOptions) {
    super(`agent journal ${dir}: ${message}`, 'ERR_AGENT_JOURNAL_OPEN', options)
    this.dir = dir
  }
}
