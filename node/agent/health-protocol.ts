/**
 * Node health reports on the command channel: what a node tells its tracker of its store,
 * its disk, its scrubbing and its origin fallback (a subset of its `status()`), so that an
 * operations team sees, fleet-wide and from the one place every node is connected to, which
 * campus node's disk is filling up or going bad. Part of the channel protocol (`protocol.ts`).
 *
 * Compatibility: a tracker older than this frame closes the connection on it (a node frame
 * type it does not know is a protocol violation). So a node sends `health` frames only to a
 * tracker whose welcome named {@link HEALTH_FEATURE} in its `features`; and it names the
 * feature in its own hello, so that a tracker knows which nodes report (one that does not,
 * an older agent, is never counted as having gone quiet).
 */

/** Feature named in a welcome (the tracker takes `health` frames) and in a hello (the node sends them). */
export const HEALTH_FEATURE = 'health'

/**
 * How often a node reports its health while connected (it also reports right after each
 * welcome, and promptly when something alarming changes). The tracker counts a report older
 * than twice this, from a connected node, as overdue.
 */
export const HEALTH_INTERVAL_MS = 5 * 60_000

/** A node's health, as a `health` frame carries it. Every number is finite and ≥ 0. */
export interface NodeHealth {
  /** When the node measured it (its own clock, epoch ms). */
  measuredAt: number
  store: {
    /** Chunks stored. */
    chunks: number
    /** Bytes of chunk data stored. */
    bytes: number
    /** Bytes held by pinned chunks (content the tracker placed). */
    pinnedBytes: number
    /** Byte quota; `null`: unlimited. */
    quotaBytes: number | null
    /** The most bytes the store may hold now, when its disk's free-space floor binds (below the quota). */
    limitBytes?: number
    /** Writes refused for want of room since the node started. */
    refusedWrites: number
  }
  /** The store's disk, when the store is on disk. */
  disk?: {
    /** Free bytes on it; `null` when the disk could not be asked. */
    freeBytes: number | null
    /** Bytes the store keeps free there; 0: no floor. */
    minFreeBytes: number
  }
  /** Scrubbing of the on-disk store, when the node scrubs. */
  scrub?: {
    /** A pass runs now. */
    running: boolean
    /** When the last whole pass ended (the node's clock, epoch ms). */
    lastPassEndedAt?: number
    /** Corrupt chunks the pass that runs, or the last one, found (and had fetched again). */
    corruptFound: number
    /** Corrupt chunks every pass found since the node started. */
    totalCorruptFound: number
    /** Chunks the pass that runs, or the last one, could not read at all (I/O errors: a failing disk). */
    readErrors?: number
  }
  /** Corrupt chunks received from peers since the node started (each refused, its peer banned). */
  corruptChunks: number
  /** Open libp2p connections. */
  connections: number
  /** The origin fallback, when the node has an origin: failed requests since its last success. */
  origin?: { consecutiveFailures: number }
}

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0
const isObj = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v)

/**
 * Checks a health report's shape (verify before trust) and returns a copy holding only the
 * fields above: every count, size and time a safe integer ≥ 0, each optional part an object
 * when present. Fields it does not know (a newer node's) are left out, not refused: the
 * tracker keeps one report per node in memory, and keeps nothing it has not checked.
 * Undefined when a known field is malformed.
 */
export function parseNodeHealth(v: unknown): NodeHealth | undefined {
  if (!isObj(v) || !isInt(v.measuredAt) || !isInt(v.corruptChunks) || !isInt(v.connections)) return undefined
  const s = v.store
  if (!isObj(s) || !isInt(s.chunks) || !isInt(s.bytes) || !isInt(s.pinnedBytes) || !isInt(s.refusedWrites))
    return undefined
  if (s.quotaBytes !== null && !isInt(s.quotaBytes)) return undefined
  if (s.limitBytes !== undefined && !isInt(s.limitBytes)) return undefined
  const out: NodeHealth = {
    measuredAt: v.measuredAt,
    store: {
      chunks: s.chunks,
      bytes: s.bytes,
      pinnedBytes: s.pinnedBytes,
      quotaBytes: s.quotaBytes,
      ...(s.limitBytes === undefined ? {} : { limitBytes: s.limitBytes }),
      refusedWrites: s.refusedWrites,
    },
    corruptChunks: v.corruptChunks,
    connections: v.connections,
  }
  if (v.disk !== undefined) {
    const d = v.disk
    if (!isObj(d) || (d.freeBytes !== null && !isInt(d.freeBytes)) || !isInt(d.minFreeBytes)) return undefined
    out.disk = { freeBytes: d.freeBytes, minFreeBytes: d.minFreeBytes }
  }
  if (v.scrub !== undefined) {
    const c = v.scrub
    if (!isObj(c) || typeof c.running !== 'boolean' || !isInt(c.corruptFound) || !isInt(c.totalCorruptFound))
      return undefined
    if (c.lastPassEndedAt !== undefined && !isInt(c.lastPassEndedAt)) return undefined
    if (c.readErrors !== undefined && !isInt(c.readErrors)) return undefined
    out.scrub = {
      running: c.running,
      ...(c.lastPassEndedAt === undefined ? {} : { lastPassEndedAt: c.lastPassEndedAt }),
      corruptFound: c.corruptFound,
      totalCorruptFound: c.totalCorruptFound,
      ...(c.readErrors === undefined ? {} : { readErrors: c.readErrors }),
    }
  }
  if (v.origin !== undefined) {
    if (!isObj(v.origin) || !isInt(v.origin.consecutiveFailures)) return undefined
    out.origin = { consecutiveFailures: v.origin.consecutiveFailures }
  }
  return out
}
