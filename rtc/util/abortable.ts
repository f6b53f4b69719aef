/** Ending a wait when an {@link AbortSignal} aborts, with the rtc service's typed {@link AbortError}. */
import { AbortError } from '../errors.ts'

/** Throws {@link AbortError} if `signal` has aborted. */
export function throwIfAborted(signal: AbortSignal | undefined, what = 'aborted'): void {
  if (signal?.aborted === true) throw new AbortError(what, { cause: signal.reason })
}

/**
 * Settles like `promise`, or rejects with {@link AbortError} as soon as `signal` aborts (at once if
 * it has). `promise` goes on: whoever aborts releases what it holds; its own rejection is not
 * left unhandled.
 */
export function abortable<T>(
  promise: Promise<T>,
  signal: AbortSignal | undefined,
  what = 'aborted',
): Promise<T> {
  if (signal === undefined) return promise
  promise.catch(() => {})
  if (signal.aborted) return Promise.reject(new AbortError(what, { cause: signal.reason }))
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(new AbortError(what, { cause: signal.reason }))
    signal.addEventListener('abort', onAbort, { once: true })
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort)
        resolve(value)
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort)
        reject(err)
      },
    )
  })
}
