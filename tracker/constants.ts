/** Defaults and limits of the tracker service, with units in the names. */

/** Default HTTP host of the tracker. */
export const DEFAULT_HOST = '127.0.0.1'
/** Default HTTP port of the tracker (0 = pick a free one). */
export const DEFAULT_PORT = 7070
/** Path of the command channel WebSocket. */
export const CHANNEL_PATH = '/channel'
/**
 * First retransmit delay of an unACKed command. Within one WebSocket a frame cannot get
 * lost (TCP), so a retransmit only helps a node that received but failed to record a
 * command. Commands of a dead connection are replayed on the next one, not retransmitted.
 */
export const RETRANSMIT_INITIAL_MS = 5_000
/** Retransmit delay cap. */
export const RETRANSMIT_MAX_MS = 60_000
/** How often the retransmit loop looks for due commands. */
export const RETRANSMIT_TICK_MS = 250
/**
 * The tracker pings every channel this often; a channel that did not answer the previous
 * ping is closed (a silently dead TCP connection would otherwise hold the node's session).
 */
export const HEARTBEAT_INTERVAL_MS = 30_000
/** Most connections that have not finished their hello; more are refused (try again later). */
export const MAX_PENDING_HANDSHAKES = 2_000
/**
 * How long the tracker waits for a channel it closes (refused, replaced, dropped, or the
 * tracker stopping) to answer the close before it drops it: a dead link or a frozen peer
 * never answers, and ws would hold each for 30 s.
 */
export const CLOSE_GRACE_MS = 1_000
/** A node that sent no hello within this time is disconnected. */
export const HELLO_TIMEOUT_MS = 10_000
/** Most undelivered commands queued for one node. */
export const MAX_OUTBOX_PER_NODE = 1_000
/**
 * Highest command sequence number of a node: outbox keys pad sequence numbers to 12
 * digits, and must sort in sequence order.
 */
export const MAX_COMMAND_SEQ = 999_999_999_999
/**
 * How far a node's reported last sequence may run ahead of what this tracker issued it
 * (a tracker restored from an older backup issued fewer than the node holds). Far more
 * than any backup loses; a claim beyond it is refused, not continued after.
 */
export const MAX_LAST_SEQ_AHEAD = 1_000_000
/** Most nodes in the inventory. */
export const MAX_NODES = 100_000
/**
 * Most PeerIds a node remembers as released from it (`DELETE /nodes/:id/peer`), newest kept:
 * a hello from one of them is refused as released, not as unknown. More replaced machines of
 * one node than this, all coming back, is not a case to size for.
 */
export const MAX_UNBOUND_PEERS_PER_NODE = 8
/** Changes made through the admin API kept in its audit trail (`state/audit.ts`), newest first. */
export const MAX_AUDIT_ENTRIES = 10_000
/** Characters of a change's request body kept in the audit trail. */
export const MAX_AUDIT_BODY_CHARS = 2_000
/** Backups of the running tracker kept (`<dataDir>/backups/`), newest first; `--backup-keep`. */
export const DEFAULT_BACKUP_KEEP = 7
/** Most enrollment tokens issued through the API kept at once (active or not yet swept). */
export const MAX_ENROLLMENT_TOKENS = 1_000
/**
 * How long an enrollment token that stopped enrolling (expired, or used up) is still listed:
 * tokens older than this are deleted as the next one is issued.
 */
export const ENROLLMENT_TOKEN_RETENTION_MS = 30 * 24 * 60 * 60 * 1000
/** How long an issued enrollment token enrolls unless its issuer says (7 days). */
export const DEFAULT_ENROLLMENT_TOKEN_TTL_MS = 7 * 24 * 60 * 60 * 1000
/** The longest an issued enrollment token may enroll (one year). */
export const MAX_ENROLLMENT_TOKEN_TTL_MS = 366 * 24 * 60 * 60 * 1000
/** Most operator tokens kept at once (active, or revoked / expired and not yet swept). */
export const MAX_OPERATOR_TOKENS = 1_000
/**
 * How long an operator token that was revoked or expired is still listed (and still refused
 * with its own code, `ERR_OPERATOR_TOKEN_REVOKED` / `_EXPIRED`): older ones are deleted as the
 * next is issued.
 */
export const OPERATOR_TOKEN_RETENTION_MS = 30 * 24 * 60 * 60 * 1000
/** The longest an operator token may be issued for (one year); none given: it does not expire. */
export const MAX_OPERATOR_TOKEN_TTL_MS = 366 * 24 * 60 * 60 * 1000
/**
 * An operator token's `lastUsedAt` is written at most this often: a dashboard polling with it
 * every second would otherwise write the state every second.
 */
export const OPERATOR_LAST_USED_RESOLUTION_MS = 60 * 1000
/**
 * Most releases kept. Finished releases are compacted after {@link DEFAULT_RELEASE_RETENTION_MS}
 * and, once they decide nothing, deleted down to {@link RELEASE_HISTORY_SHARE} of this
 * (`rollout/retention.ts`): only releases that run, finished within the retention period or
 * still decide what nodes run count against it for good.
 */
export const MAX_RELEASES = 10_000
/**
 * How long a finished release (completed, aborted, rolled back) keeps its per-node states
 * before it is compacted to counts (and can no longer be rolled back): 30 days, longer than
 * any outcome deadline (at most 30 days) and than an operator takes to notice a bad release.
 * 0 keeps them for ever.
 */
export const DEFAULT_RELEASE_RETENTION_MS = 30 * 24 * 60 * 60 * 1000
/** How often the release sweeper looks for releases to compact or delete. */
export const RELEASE_SWEEP_INTERVAL_MS = 10 * 60 * 1000
/** First sweep after the tracker starts (at most): a tracker down for long catches up soon. */
export const RELEASE_SWEEP_FIRST_MS = 60 * 1000
/** Next sweep when a pass stopped at its bounds with work left. */
export const RELEASE_SWEEP_BUSY_MS = 1_000
/** Per-node states folded by one sweep at most (it stops after the release that reaches it). */
export const RELEASE_SWEEP_MAX_NODES = 20_000
/** Releases deleted by one sweep at most. */
export const RELEASE_SWEEP_MAX_DELETES = 1_000
/**
 * Compacted releases that decide nothing are deleted, oldest first, while the tracker holds
 * more releases than this share of its maximum (1,000 of 10,000: what `GET /releases` lists by
 * default), so the latest of them stay listed as history.
 */
export const RELEASE_HISTORY_SHARE = 0.1
/**
 * Highest version number of a resource: the catalog's keys pad versions to 10 digits (so
 * they sort in version order), and every node reads a command's version as a safe integer.
 */
export const MAX_VERSION = 9_999_999_999
/**
 * Latest activation time of a release (epoch ms): the last instant a `Date` holds. A node
 * refuses a command whose `activateAt` is not a safe integer, and drops the connection that
 * carried it.
 */
export const MAX_ACTIVATE_AT_MS = 8_640_000_000_000_000
/** Most stages of a release. */
export const MAX_STAGES = 20
/** Most concurrent SSE subscribers. */
export const MAX_SSE_CLIENTS = 256
/** Events buffered per SSE subscriber before it is dropped as too slow. */
export const MAX_SSE_BUFFERED_EVENTS = 1_000
/**
 * Most recent SSE events kept to replay to a dashboard that reconnects with `Last-Event-ID`;
 * one that missed more is sent `reset` (reload the state) instead. Each is kept as its
 * frame text, a few hundred bytes: ~0.5 MB. A 5,000-node rollout emits a few events per
 * node, so during one this covers seconds; between rollouts, hours.
 */
export const SSE_REPLAY_EVENTS = 1_000
/**
 * Reconnection delay an SSE stream asks its clients for (`retry:`). EventSource's own default
 * is browser-defined (~3 s); the tracker ends every stream when it stops, and a restart
 * takes ~2–3 s.
 */
export const SSE_RETRY_MS = 2_000
/** Default page size of the admin API's lists (`?limit`). */
export const DEFAULT_LIST_LIMIT = 1_000
/** Largest page of the admin API's lists (`?limit`); `GET /nodes` pages on with `?cursor`. */
export const MAX_LIST_LIMIT = 10_000
/** Largest JSON body of the admin API. */
export const MAX_BODY_BYTES = 1024 * 1024
/**
 * How long a node has, from its ACK of a release's `place`, to report an outcome (`placed`,
 * `active` or `failed`) before it counts as failed with reason `timeout` (a node that died,
 * or whose agent hangs, would otherwise hold its stage's gate for ever). A day: a large
 * lesson over a slow campus link takes hours, and a fetch may wait for the night.
 */
export const DEFAULT_OUTCOME_TIMEOUT_MS = 24 * 60 * 60 * 1000
/** Longest outcome deadline a release may set. */
export const MAX_OUTCOME_TIMEOUT_MS = 30 * 24 * 60 * 60 * 1000
/**
 * Least time between two sweeps for overdue outcomes: nodes ACK a stage within moments of
 * each other, and one sweep (a walk over the live releases' nodes) takes them all.
 */
export const OUTCOME_SWEEP_MIN_INTERVAL_MS = 250
/**
 * First delay before a late member whose catch-up `place` failed (`rollout/catch-up.ts`) is
 * sent it again; each further failure doubles it, up to {@link CATCH_UP_RETRY_MAX_MS}. Long
 * enough that a retry does not land in the outage it follows (an origin restarting, a disk
 * being cleaned), short enough that a passing fault costs minutes.
 */
export const CATCH_UP_RETRY_INITIAL_MS = 10 * 60 * 1000
/**
 * Longest delay between two catch-up attempts: a node that keeps failing (its disk stays
 * full) is sent one `place` a day, which costs nothing, until it succeeds, no longer should
 * run the version, or is deleted. Attempts are not capped (see `rollout/catch-up.ts`).
 */
export const CATCH_UP_RETRY_MAX_MS = 24 * 60 * 60 * 1000
/** Least time between two sweeps for due catch-up retries. */
export const CATCH_UP_SWEEP_MIN_INTERVAL_MS = 250
/** Default success ratio of an automatic gate. */
export const DEFAULT_GATE_SUCCESS_RATIO = 1
/** Attempts of the origin → tracker version registration before giving up. */
export const REGISTER_MAX_ATTEMPTS = 10
/** First delay between registration attempts. */
export const REGISTER_BACKOFF_INITIAL_MS = 500
/** Registration delay cap. */
export const REGISTER_BACKOFF_MAX_MS = 30_000
