/**
 * When the periodic sweep retries publishing a complete upload whose publishing failed:
 * 1, 2, 4… sweeps after each failure, at most `maxSweepsApart` apart, and `maxAttempts`
 * times in all; past that the upload stays on disk until its client resumes it (a HEAD)
 * or the origin restarts.
 */
import { logger } from '@libp2p/logger'
import { PUBLISH_RETRY_MAX_ATTEMPTS, PUBLISH_RETRY_MAX_SWEEPS_APART } from './constants.ts'

const log = logger('dandelion:origin:publish-retries')

/** Options of {@link PublishRetries}. */
export interface PublishRetriesInit {
  /** @default PUBLISH_RETRY_MAX_ATTEMPTS */
  maxAttempts?: number
  /** @default PUBLISH_RETRY_MAX_SWEEPS_APART */
  maxSweepsApart?: number
}

/** Failures and remaining waits, per upload. */
export class PublishRetries {
  // holds only uploads still complete on disk: `keepOnly` drops the others at each sweep
  private readonly retries = new Map<string, { failures: number; wait: number }>()
  private readonly maxAttempts: number
  private readonly maxSweepsApart: number

  constructor(init: PublishRetriesInit = {}) {
    this.maxAttempts = init.maxAttempts ?? PUBLISH_RETRY_MAX_ATTEMPTS
    this.maxSweepsApart = init.maxSweepsApart ?? PUBLISH_RETRY_MAX_SWEEPS_APART
  }

  /** Forgets uploads that are no longer waiting to be published. */
  keepOnly(ids: readonly string[]): void {
    const keep = new Set(ids)
    for (const id of this.retries.keys()) if (!keep.has(id)) this.retries.delete(id)
  }

  /** Whether this sweep should try `id`; counts down its wait when not. */
  due(id: string): boolean {
    const retry = this.retries.get(id)
    if (retry === undefined) return true
    if (retry.failures >= this.maxAttempts) return false
    if (retry.wait > 0) {
      retry.wait--
      return false
    }
    return true
  }

  /** Records a success. */
  succeeded(id: string): void {
    this.retries.delete(id)
    log('published upload %s on a sweep retry', id)
  }

  /** Records a failure and logs when the next try comes, if any. */
  failed(id: string, err: Error): void {
    const retry = this.retries.get(id) ?? { failures: 0, wait: 0 }
    retry.failures++
    retry.wait = Math.min(2 ** (retry.failures - 1), this.maxSweepsApart) - 1
    this.retries.set(id, retry)
    if (retry.failures >= this.maxAttempts) {
      log.error(
        'publishing upload %s failed %d times, giving up until its client resumes it or the origin restarts: %s',
        id,
        retry.failures,
        err.message,
      )
    } else {
      log.error(
        'publishing upload %s failed (attempt %d of %d), retrying in %d sweep(s): %s',
        id,
        retry.failures,
        this.maxAttempts,
        retry.wait + 1,
        err.message,
      )
    }
  }
}
