/**
 * A bound on how long a player waits for bytes nobody delivers. `node.read` waits for each
 * missing chunk until it is stored: with no peer holding it and no origin answering, that
 * is forever, and a player asking for it hung with it (headers sent, body stalled, the
 * node's reader pinned). Here a wait for the next chunk ends once the lesson has made no
 * progress at all (no chunk of it arrived) over the bound. A lesson still arriving, if
 * slowly (a busy WAN link, 30 players starting at once), keeps its players waiting: a
 * browser shows a spinner on a slow response, an error on a failed one. The time a player
 * takes to read what it was given does not count.
 */

/** No peer or origin delivered anything of content a player waits for within the playback server's bound. */
export class ChunkTimeoutError extends Error {
  override name = 'ChunkTimeoutError'
  readonly code = 'ERR_CHUNK_TIMEOUT'
  /** Gateway Timeout: the node stands between the player and the peers that hold the content. */
  readonly statusCode = 504
}

/** Options of {@link readWithDeadline}. */
export interface ReadDeadlineOptions {
  /** Longest wait for the next bytes with no progress, in milliseconds. */
  waitMs: number
  /** The player's own end (it went away): ends the read without an error of ours. */
  signal: AbortSignal
  /** What is read (manifest and range), for the error's message. */
  what: string
  /**
   * A mark of the content's download progress (chunks and bytes received), read each time
   * a wait outlasts another `waitMs`: the wait ends at the end of the first such period
   * over which the mark did not move, so never before 2 × `waitMs`, and at most 2 × `waitMs`
   * after the last progress. @default none: every wait ends after `waitMs`
   */
  progress?: () => string
}

/**
 * Reads `open(signal)` with a deadline on each wait for its next value: past `waitMs`
 * without progress, `signal` passed to `open` aborts with a {@link ChunkTimeoutError}, which
 * is what the returned generator throws. Ending the returned generator early (`return()`,
 * a destroyed stream) ends the source too, so whatever it holds (reader counts, chunk
 * waiters) is let go.
 */
export async function* readWithDeadline(
  open: (signal: AbortSignal) => AsyncGenerator<Uint8Array>,
  options: ReadDeadlineOptions,
): AsyncGenerator<Uint8Array> {
  const { waitMs, signal, what, progress } = options
  const stop = new AbortController()
  const onAbort = (): void => stop.abort(signal.reason)
  signal.addEventListener('abort', onAbort, { once: true })
  if (signal.aborted) onAbort()
  const source = open(stop.signal)
  try {
    for (let sent = 0; ; ) {
      let timer: NodeJS.Timeout | undefined
      // the mark is taken when a wait outlasts `waitMs`, not per chunk: reading it (the
      // node's status) on every chunk of every player would cost more than the reads
      const arm = (mark: string | undefined): void => {
        timer = setTimeout(() => {
          const now = progress?.()
          if (now !== undefined && now !== mark) return arm(now)
          stop.abort(
            new ChunkTimeoutError(
              `${what}: nothing of it arrived from a peer or the origin for ${waitMs} ms (${sent} bytes sent)`,
            ),
          )
        }, waitMs)
      }
      arm(undefined)
      let next: IteratorResult<Uint8Array>
      try {
        next = await source.next()
      } catch (err) {
        // the waits below reject with the signal's reason; a store read may wrap it
        if (stop.signal.reason instanceof ChunkTimeoutError) throw stop.signal.reason
        throw err
      } finally {
        clearTimeout(timer)
      }
      if (next.done === true) return
      sent += next.value.byteLength
      yield next.value
    }
  } finally {
    signal.removeEventListener('abort', onAbort)
    // a no-op once the source finished; otherwise runs its `finally` (it is suspended at a yield)
    await source.return(undefined)
  }
}
