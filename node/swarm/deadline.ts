/**
 * A deadline for setting something up (a dial, a stream) that must not outlive it.
 * libp2p keeps listening to the signal given to `newStream`/`dial` after they resolve, so
 * an `AbortSignal.timeout` would abort a perfectly good stream later; this one is
 * disarmed as soon as the setup settles.
 */
export async function withDeadline<T>(ms: number, setup: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController()
  const timer = setTimeout(() => controller.abort(new Error(`timed out after ${ms} ms`)), ms)
  try {
    return await setup(controller.signal)
  } finally {
    clearTimeout(timer)
  }
}
