/**
 * A `place` command's download progress as the tracker hears it: a percentage and the
 * bytes by source, at most every {@link PROGRESS_INTERVAL_MS} (a fetch reports every
 * chunk); the latest bytes are kept for the command's outcome whatever was sent.
 */
import type { FetchProgress } from './index.ts'

/** Progress reports are sent at most this often per command. */
export const PROGRESS_INTERVAL_MS = 500

/** What the tracker is told of a download in progress. */
export interface PlaceProgress {
  percent: number
  peerBytes: number
  originBytes: number
}

/**
 * An `onProgress` for the fetch of a `place` that calls `report` at most every
 * {@link PROGRESS_INTERVAL_MS}, and the bytes by source so far.
 */
export function throttledProgress(report: (p: PlaceProgress) => void): {
  onProgress: (p: FetchProgress) => void
  bytes: { peerBytes: number; originBytes: number }
} {
  let last = 0
  const bytes = { peerBytes: 0, originBytes: 0 }
  const onProgress = (p: FetchProgress): void => {
    bytes.peerBytes = p.peerBytes
    bytes.originBytes = p.originBytes
    const now = Date.now()
    if (now - last < PROGRESS_INTERVAL_MS) return
    last = now
    const percent = p.totalBytes > 0 ? Math.min(100, (100 * (p.peerBytes + p.originBytes)) / p.totalBytes) : 0
    report({ percent, ...bytes })
  }
  return { onProgress, bytes }
}
