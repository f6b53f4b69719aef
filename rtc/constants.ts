/** Defaults for the rtc service. Units are in the names. */

const second = 1000

/** Students allowed in each room kind (teacher not counted). */
export const MAX_STUDENTS = { 'one-on-one': 1, group: 6, class: 200 } as const
/** Kind of a room whose teacher's token names none. */
export const DEFAULT_ROOM_KIND = 'group'
/** Hidden parent observers per room. */
export const MAX_PARENTS = 20
/** Students on stage (publishing) at once in a class. */
export const MAX_STAGE = 4
/** Pending raised hands per room. */
export const MAX_HANDS = 200
/** A ringing call not answered within this time times out. */
export const RING_TIMEOUT_MS = 30 * second
/** A raised hand not handled within this time is lowered. */
export const HAND_TIMEOUT_MS = 120 * second
/** A dropped client may resume its session within this time. */
export const RESUME_GRACE_MS = 30 * second
/**
 * A dropped client is shown as disconnected (`presence connected:false`) only once it has been
 * away this long: one back sooner (a network blip; the client's reconnect loop tries after 0.1,
 * 0.3, 0.7, 1.5 and 3.1 s) is not announced at all, so a class of 200 hears nothing of it.
 */
export const PRESENCE_DELAY_MS = 5 * second
/** Room events kept for replay on resume. */
export const EVENT_LOG_SIZE = 512
/** First retransmit delay of an un-ACKed device control; doubles each time. */
export const CONTROL_RETRY_MS = 1 * second
/** Attempts before a device control is reported as failed. */
export const CONTROL_MAX_ATTEMPTS = 5
/**
 * How long a control the lamp confirmed it is running (`control-progress`) may take before it
 * is reported as failed: a homework photo's upload on a slow classroom link. As long as the
 * upload grant it carries is valid.
 */
export const CONTROL_RUNNING_TIMEOUT_MS = 15 * 60 * 1000
/** First delay before a dropped signaling client reconnects; doubles after each failed attempt. */
export const RECONNECT_INITIAL_MS = 100
/** Longest delay between a signaling client's reconnect attempts. */
export const RECONNECT_MAX_MS = 5 * second
/** Control ids remembered for de-duplication. */
export const CONTROL_DEDUP_SIZE = 1024
/** Largest accepted signaling message. */
export const MAX_MESSAGE_BYTES = 64 * 1024
/** Messages per second a client may send on average (the socket is closed beyond). */
export const MAX_MESSAGES_PER_S = 50
/** Messages a client may send in one burst. */
export const MAX_MESSAGES_BURST = 200
/** Hand raises / lowers and own stage exits a participant may make in one burst. */
export const MAX_TOGGLES_BURST = 16
/** One more hand or stage toggle is allowed per this interval once the burst is spent. */
export const TOGGLE_REFILL_MS = 2 * second
/** Rooms one server holds. */
export const MAX_ROOMS = 1000
/** Token lifetime when none is given. */
export const TOKEN_TTL_MS = 12 * 3600 * second
/** Previous token secrets still accepted during a rotation (`--previous-secret`). */
export const MAX_PREVIOUS_SECRETS = 8
/** STUN/TURN servers configured at most (`--ice-server`); werift itself uses the first of each kind. */
export const MAX_ICE_SERVERS = 8
/**
 * How long TURN credentials minted from `--turn-secret` last, in seconds (a day: longer than any
 * class, since a TURN server refuses to refresh an allocation once its username has expired).
 * Clients are sent new ones at half of it (`ice-servers`).
 */
export const TURN_CREDENTIAL_TTL_S = 24 * 60 * 60
/** The shortest and longest lifetime `--turn-ttl` takes, in seconds. */
export const MIN_TURN_CREDENTIAL_TTL_S = 60
export const MAX_TURN_CREDENTIAL_TTL_S = 7 * 24 * 60 * 60
/** Keyframe requests forwarded to a publisher at most once per this interval. */
export const PLI_THROTTLE_MS = 500
/** Packets kept per published track for NACK retransmission (power of two). */
export const NACK_HISTORY = 1024
/** Active speaker re-evaluated at this interval. */
export const SPEAKER_INTERVAL_MS = 300
/** Audio level (dBov, 0 loudest .. 127 silent) below which a participant counts as speaking. */
export const SPEAKER_THRESHOLD_DBOV = 60
/** Default HTTP/WebSocket port. */
export const DEFAULT_PORT = 8443
/** Default listening address. */
export const DEFAULT_HOST = '127.0.0.1'
/** Subscriber connections an SFU shard sets up at once. */
export const MAX_CONCURRENT_JOINS = 24
/** A join slot is given back after this long even if the connection is still not up. */
export const JOIN_SLOT_TIMEOUT_MS = 10 * second
/** Largest homework photo a lamp's upload grant allows. */
export const PHOTO_MAX_BYTES = 25 * 1024 * 1024
/** How long a homework photo's upload grant is valid (from the teacher's request). */
export const PHOTO_GRANT_TTL_MS = 15 * 60 * second
/** Where the rtc server keeps the key it signs photo upload grants with, unless configured. */
export const DEFAULT_GRANT_KEY_FILE = './.data/rtc/photo-grant.key'
/**
 * Times a lamp starts a photo upload over when its grant's upload exists already (it restarted
 * mid-upload, or a creation's answer was lost), before it ACKs the failure.
 */
export const PHOTO_UPLOAD_RESTARTS = 2
/** Delays between retries of a photo upload's failed request. */
export const PHOTO_RETRY_DELAYS_MS: readonly number[] = [0, 500, 2 * second]
