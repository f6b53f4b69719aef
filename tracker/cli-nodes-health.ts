/**
 * The health line `dandelion nodes list` prints under each node that reported its health
 * (`GET /api/v1/nodes`'s `health`, see `health/attention.ts` for what needs attention).
 */

/** A node's `health` as `GET /nodes` shows it: the fields the line reads. */
export interface HealthRow {
  reportedAt: number
  attention: string[]
  store: { bytes: number; quotaBytes: number | null; limitBytes?: number; refusedWrites: number }
  disk?: { freeBytes: number | null; minFreeBytes: number }
  scrub?: { running: boolean; lastPassEndedAt?: number; corruptFound: number }
  origin?: { consecutiveFailures: number }
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB']

/** Bytes for a person: `3.2 GiB`. */
export function bytes(n: number): string {
  let v = n
  let u = 0
  while (v >= 1024 && u < UNITS.length - 1) {
    v /= 1024
    u++
  }
  return u === 0 ? `${v} B` : `${v.toFixed(1)} ${UNITS[u]}`
}

/** One indented line: store, disk, scrub, origin, when reported, and why it needs attention. */
export function healthLine(h: HealthRow, ago: (at: number) => string): string {
  const limit = h.store.limitBytes ?? h.store.quotaBytes
  const parts = [`store ${bytes(h.store.bytes)}${limit === null ? '' : ` of ${bytes(limit)}`}`]
  if (h.store.refusedWrites > 0) parts.push(`${h.store.refusedWrites} writes refused`)
  if (h.disk !== undefined)
    parts.push(
      `disk ${h.disk.freeBytes === null ? '?' : bytes(h.disk.freeBytes)} free` +
        (h.disk.minFreeBytes > 0 ? ` (floor ${bytes(h.disk.minFreeBytes)})` : ''),
    )
  if (h.scrub !== undefined)
    parts.push(
      h.scrub.corruptFound > 0
        ? `scrub found ${h.scrub.corruptFound} corrupt`
        : h.scrub.running
          ? 'scrub running'
          : h.scrub.lastPassEndedAt === undefined
            ? 'scrub not run yet'
            : 'scrub clean',
    )
  if (h.origin !== undefined && h.origin.consecutiveFailures > 0)
    parts.push(`origin failed ${h.origin.consecutiveFailures}x`)
  const attention = h.attention.length > 0 ? `  ATTENTION: ${h.attention.join(', ')}` : ''
  return `    health ${ago(h.reportedAt)} ago: ${parts.join(', ')}${attention}`
}
