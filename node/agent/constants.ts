/** Defaults of the tracker agent, units in the names. */

/**
 * The journal keeps final command records (`active`, `done`, `failed`) among the last this
 * many sequence numbers; older ones are pruned with their applied-log entries
 * (`journal-retention.ts`). Twice the tracker's outbox bound (`MAX_OUTBOX_PER_NODE`,
 * 1,000): a command the tracker can still replay is one it has no final outcome for, and it
 * replays them all at every connection, so such a command is answered (and leaves the
 * outbox) long before a thousand newer ones have finished.
 */
export const JOURNAL_KEEP_FINAL = 2_000
/** Most records one pruning pass deletes (one batch; passes run one at a time). */
export const JOURNAL_PRUNE_BATCH = 64
/** Most applied-log entries one pruning pass reads (records still `placed` are skipped, kept). */
export const JOURNAL_PRUNE_SCAN = 4 * JOURNAL_PRUNE_BATCH

/** First wait before writing a command's outcome to the journal again after a failed write. */
export const JOURNAL_RETRY_INITIAL_MS = 100
/** Longest wait between two attempts at writing a command's outcome (a disk full for hours). */
export const JOURNAL_RETRY_MAX_MS = 5_000

/**
 * How long `stop()` waits for the command in progress before stopping anyway: a content
 * call that ignores its abort signal (a hung disk) must not hold the daemon's shutdown.
 */
export const STOP_DEADLINE_MS = 10_000

/**
 * Bytes the channel may hold unsent before progress frames are coalesced: above it, only
 * the latest progress of each command is kept, and sent once the socket drains.
 */
export const PROGRESS_HIGH_WATER_BYTES = 16 * 1024

/**
 * How often the agent looks at the node's health for an alarming change (more writes
 * refused, corrupt chunks found, the disk under its floor), and so the least time between two
 * health reports: a node refusing every chunk of a download reports once per this, not per chunk.
 */
export const HEALTH_CHECK_MS = 10_000
