/**
 * Defaults of the swarm node (host, exchange protocol, scheduler, limits, playback),
 * with units in the names. The content model's constants live in `constants.ts`.
 */

const KiB = 1024
const MiB = 1024 * KiB
const second = 1000
const minute = 60 * second

/** Exchange protocol id. Bump the version when a frame changes meaning. */
export const SWARM_PROTOCOL = '/dandelion/swarm/1.0.0'
/** Private kad-dht protocol, so campus DHTs never mix with the public one. */
export const KAD_PROTOCOL = '/dandelion/kad/1.0.0'
/** Version number carried in every hello. */
export const SWARM_WIRE_VERSION = 1

/** Largest frame accepted: a manifest (8 MiB) or a 4 MiB chunk, plus headers. */
export const MAX_FRAME_BYTES = 8 * MiB + 64
/** Largest hello (JSON header plus a bitfield of 262,144 chunks). */
export const MAX_HELLO_BYTES = 40 * KiB
/** Largest JSON header inside a hello. */
export const MAX_HELLO_JSON_BYTES = 4 * KiB
/** Requests a peer may queue at a server before further ones are refused. */
export const MAX_QUEUED_REQUESTS_PER_PEER = 64
/**
 * A swarm stream with no whole hello after this long is closed: before it, a peer could
 * hold 1024 streams per connection open for ever, each with a session and up to 4 KiB of
 * a hello. An honest peer sends its hello as the stream opens (or answers ours at once).
 */
export const HELLO_TIMEOUT_MS = 10 * second

/** Outstanding requests per peer, in bytes (turned into a count by chunk size). */
export const REQUEST_WINDOW_BYTES = 8 * MiB
/** Requests a server reads and sends at once per peer (a disk read overlaps the previous send). */
export const SERVE_CONCURRENCY = 3
/** Longest wait for a stream to drain before a chunk is written anyway. */
export const DRAIN_WAIT_MS = 1000
/**
 * Chunks a node reads and sends at once across all peers (a slot is held until the chunk
 * has left the stream's write buffer): chunk memory stays bounded with many peers. Fewer
 * chunks in flight also die young: a seeding daemon serving 10 peers peaked at 150–170 MB
 * RSS with 6, 120–146 MB with 3, at the same throughput (bench transfer).
 */
export const MAX_CONCURRENT_SERVES = 3
/** A peer is given about this much of its measured delivery rate in outstanding requests. */
export const PIPELINE_TARGET_MS = 500
/** Bounds on the per-peer request window, in requests. */
export const MIN_REQUEST_WINDOW = 2
export const MAX_REQUEST_WINDOW = 32
/** A peer that has requests outstanding and delivers nothing for this long is stalled. */
export const PEER_STALL_MS = 15 * second
/** Copies of one chunk requested at once during endgame. */
export const ENDGAME_MAX_DUPLICATES = 2
/**
 * Withdrawn requests (cancelled in endgame, on a stall or a failure) remembered per peer:
 * the chunk may already be on its way, and arrives without fault. Twice the largest window,
 * so a stall that withdraws a whole window is covered.
 */
export const RECENT_CANCELS_PER_PEER = 2 * MAX_REQUEST_WINDOW
/**
 * Chunks a peer may send on one stream that were never asked of it (nor withdrawn lately)
 * before that is a protocol violation: each is skipped unread and scores the peer down, and
 * the allowance covers races the record of withdrawn requests missed.
 */
export const MAX_UNSOLICITED_CHUNKS = 4
/** Chunks ahead of a playback reader fetched sequentially before rarest-first resumes. */
export const PLAYBACK_LOOKAHEAD_CHUNKS = 8
/** Peers kept per swarm. */
export const MAX_PEERS_PER_SWARM = 40
/**
 * At the cap on peers, a downloading swarm replaces a peer that delivers under this share
 * of what its fastest peer delivers (after a stall period to show its speed).
 */
export const SLOW_PEER_FRACTION = 0.1
/**
 * Swarms a node downloads or streams at once. Content it holds whole is seeded without
 * limit: such a swarm reaches out to nobody (peers that miss chunks reach out to it) and
 * runs no timer.
 */
export const MAX_SWARMS = 256
/**
 * Manifest lookups at once that a reader started (playback, `manifest()`): a player on
 * the classroom network asking for made-up content is answered 503 past it, and cannot
 * crowd out downloads (`fetch` looks up without this cap).
 */
export const MAX_MANIFEST_LOOKUPS = 64
/** Longest delay one Node timer can wait (2^31-1 ms, ~24.8 days): a longer one fires at once. */
export const MAX_TIMER_MS = 2 ** 31 - 1
/** How long a peer that sent a corrupt chunk is banned. */
export const BAN_MS = 10 * minute
/** Banned peers remembered at once. */
export const MAX_BANNED_PEERS = 1024
/**
 * Protocol violations (malformed, oversize or out-of-order frames, request floods) a peer
 * may commit within BAN_MS before it is banned: each closes its stream, and a peer that
 * keeps opening new ones to try again is shut out.
 */
export const MAX_PROTOCOL_OFFENSES = 3
/**
 * Swarm streams being opened at once to one peer. yamux resets the whole connection of a
 * peer that opens more than 10 streams before it has acknowledged one ("early streams"),
 * and a node seeking many lessons opens one stream per lesson when a peer connects. 6
 * leaves room for the streams libp2p itself opens on connecting (identify, ping, the DHT).
 */
export const MAX_STREAM_OPENS_PER_PEER = 6

/** Offers outstanding per peer while super-seeding. */
export const SUPER_SEED_OFFERS_PER_PEER = 2
/** A chunk sent while super-seeding that nobody announces within this long is offered again (at once if its receiver left). */
export const SUPER_SEED_REOFFER_MS = 60 * second
/** Once every chunk is out, a super-seeder may send this share of the chunks a second time (rarest first) to shorten the tail. */
export const SUPER_SEED_EXTRA_RATIO = 0.03

/** Idle time (nothing requestable from peers, nothing in flight) before asking the origin. */
export const ORIGIN_FALLBACK_IDLE_MS = 3 * second
/** Deadline of one HTTP chunk request to the origin. */
export const ORIGIN_REQUEST_TIMEOUT_MS = 30 * second
/** Concurrent HTTP chunk requests to the origin per swarm. */
export const ORIGIN_CONCURRENCY = 4
/** After a failed origin request the node leaves the origin alone this long, doubling per failure in a row… */
export const ORIGIN_BACKOFF_INITIAL_MS = 500
/** …up to this (each with 50–150 % jitter). */
export const ORIGIN_BACKOFF_MAX_MS = 30 * second
/** How often the scheduler looks at timers (stalls, fallback). */
export const SCHEDULER_TICK_MS = 500

/** DHT announcements (`provide`) under way at once: a node starting with a year of lessons queues the rest. */
export const PROVIDE_CONCURRENCY = 4
/** How long one DHT announcement may take. */
export const PROVIDE_TIMEOUT_MS = 60 * second
/** An announcement that reached no peer is tried again after 1 s, doubling up to this (back to 1 s when a peer connects). */
export const ANNOUNCE_RETRY_MS = 30 * second
/** How long one DHT provider lookup may take. */
export const FIND_PROVIDERS_TIMEOUT_MS = 10 * second
/**
 * Provider lookups on the DHT at once, node-wide (the others queue): a DHT peer refuses a
 * peer's GET_PROVIDERS streams past 32 at once (libp2p's default per protocol), so 60
 * lessons fetched together lost most of their lookups.
 */
export const FIND_PROVIDERS_CONCURRENCY = 4
/** Providers taken from one lookup. */
export const MAX_PROVIDERS_PER_LOOKUP = 40

/** Dials to peers found by mDNS under way at once (a classroom of lamps answers together). */
export const MAX_PENDING_LAN_DIALS = 4
/** A node holding this many connections dials no more peers found by mDNS. */
export const MAX_LAN_CONNECTIONS = 64
/** How long one dial to a peer found by mDNS may take (it is on the LAN). */
export const LAN_DIAL_TIMEOUT_MS = 5 * second
/** How often mDNS asks the LAN who is there (each answer is dialed if not connected). */
export const MDNS_QUERY_INTERVAL_MS = 10 * second
/**
 * The mDNS service name Dandelion nodes answer to: a private one (like the DHT's protocol),
 * so a campus LAN's other libp2p software neither finds them nor is dialed by them.
 */
export const MDNS_SERVICE_TAG = '_dandelion._udp.local'

/** Token bucket burst: this many ms worth of the rate, at least one max chunk. */
export const BUCKET_BURST_MS = 100
/** Default device upload limit. */
export const DEVICE_UPLOAD_BYTES_PER_SECOND = 1 * MiB
/** Default device cache quota. */
export const DEVICE_QUOTA_BYTES = 2 * 1024 * MiB

/** Names remembered by the name table. */
export const MAX_NAMES = 10_000

/** Time between two scrub passes of an on-disk store (every chunk read back and hashed). */
export const SCRUB_INTERVAL_MS = 7 * 24 * 60 * 60 * second
/** How fast a scrub pass reads: under a tenth of a campus disk, so classes never notice. */
export const SCRUB_BYTES_PER_SECOND = 8 * MiB
