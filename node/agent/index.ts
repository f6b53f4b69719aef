/**
 * The node agent: keeps the command channel to the tracker (several addresses, with
 * failover), dedups commands by id in a persisted journal, executes them through the
 * node's content API and reports ACK, progress and outcome.
 *
 * ```ts
 * const agent = createAgent({ content: node, privateKey }, {
 *   trackers: ['ws://tracker-a:7070/channel', 'ws://tracker-b:7070/channel'],
 *   dir: './data/agent',
 *   enrollment: { token, nodeId: 'bj-01-n1', campus: 'bj-01' },
 * })
 * await agent.start()
 * ```
 *
 * Scrub on command: given `content.scrub()`, a tracker's `scrub` command runs a pass over the
 * node's store, beside the other commands (a pass can take hours), and reports `done` with
 * what it found (chunks checked, corrupt, unreadable).
 *
 * Health: given `content.health()`, the agent reports the node's health (store, disk, scrub,
 * origin fallback) to a tracker whose welcome names the `health` feature, after each welcome,
 * every 5 minutes, and promptly when something alarming changes (`health-reporter.ts`).
 *
 * Events (`AgentEvents`): `connected`, `disconnected`, `refused`, `outcome`, and
 * `membership`: the tracker's signed statement of this node's campus and city
 * (`SignedMembership`, `node/membership.ts`), sent in the welcome and again when the node is
 * moved or the statement is a day old, emitted once it checked out against the key of the
 * tracker that welcomed the node and this node's PeerId (one that does not is logged and
 * ignored). `agent.membership` holds the latest; the node shows it in its swarm hellos.
 */
import type { PrivateKey } from '@libp2p/interface'
import { Agent } from './agent.ts'
import type { JournalStore } from './journal.ts'
import type { NodeHealth, ScrubFindings } from './protocol.ts'

export { Agent } from './agent.ts'
export { JournalOpenError } from './errors.ts'
export type { AppliedRecord, JournalDamage, JournalRecord, JournalStore } from './journal.ts'
export { LevelJournalStore, MemoryJournalStore } from './journal.ts'
export * from './protocol.ts'

/** Progress of a fetch, in bytes by source. */
export interface FetchProgress {
  peerBytes: number
  originBytes: number
  totalBytes: number
}

/** The resource-name table the playback server reads (`GET /content/by-name/:resource`). */
export interface AgentNameTable {
  get(name: string): string | undefined | Promise<string | undefined>
  set(name: string, cid: string): void | Promise<void>
  delete(name: string): void | Promise<void>
  /**
   * Every entry: lets the agent keep pinned a version another resource has active.
   * @default only the resource a command names is checked
   */
  list?():
    | Array<{ name: string; manifestCid: string }>
    | Promise<Array<{ name: string; manifestCid: string }>>
}

/** The slice of the node's content API the agent drives. */
export interface AgentContentApi {
  /** Fetches (and verifies) a manifest and all its chunks. */
  fetch(
    manifestCid: string,
    options: { signal?: AbortSignal; onProgress?: (p: FetchProgress) => void },
  ): Promise<unknown>
  pin(cid: string): Promise<void>
  unpin(cid: string): Promise<void>
  evict(cid: string): Promise<void>
  names: AgentNameTable
  /**
   * The node's health now (store, disk, scrub, origin fallback), reported to a tracker that
   * takes it (`health-protocol.ts`); read every few seconds, so cheap. Undefined, or absent:
   * nothing is reported.
   */
  health?(): NodeHealth | undefined
  /**
   * Runs a scrub pass over the node's on-disk store now (or joins the one under way) and
   * resolves with what it found: the tracker's `scrub` command. Throws why when the node
   * does not scrub. An abort stops the wait, not the pass (the node's own stop ends it).
   * Absent: a `scrub` command fails, saying the node does not scrub.
   */
  scrub?(options: { signal?: AbortSignal }): Promise<ScrubFindings>
}

/** Components of the agent. */
export interface AgentComponents {
  content: AgentContentApi
  /** The node's libp2p key: its PeerId is its identity on the channel. */
  privateKey: PrivateKey
  /**
   * Where the journal is kept. @default a level database in `init.dir` (repaired, or
   * started anew beside the damaged files, when damaged), else memory
   */
  journalStore?: JournalStore
}

/** Options of the agent. */
export interface AgentInit {
  /** Channel URLs (`ws://host:port/channel`), tried in order with failover. */
  trackers: string[]
  /** Journal directory (level). @default in memory: dedup does not survive a restart */
  dir?: string
  /**
   * PeerIds of the trackers this node obeys (the `trackerId` a tracker prints at start):
   * a tracker that cannot sign with one of their keys is refused, and so is any command
   * it did not sign. Without it, the first tracker met is pinned in the journal (trust on
   * first use, like SSH): a tracker with another key is then refused until it is named
   * here. @default the first tracker met
   */
  trackerIds?: string[]
  /** Sent in the hello until the tracker has accepted this node once. */
  enrollment?: { token: string; nodeId: string; campus?: string; labels?: string[] }
  /**
   * This node's software version, sent in every hello: the tracker's inventory shows what each
   * node runs (a rolling upgrade's progress). At most 64 characters. @default none
   */
  version?: string
  /** First reconnect delay. @default 200 */
  reconnectInitialMs?: number
  /**
   * Reconnect delay cap. A connection that stayed up at least this long after its welcome
   * ends the backoff; one dropped sooner counts as a failed attempt. @default 10000
   */
  reconnectMaxMs?: number
  /**
   * A connection not welcomed this long after it was dialled (TCP, WebSocket upgrade,
   * challenge, welcome) is dropped and the next address tried. @default 15000
   */
  handshakeTimeoutMs?: number
  /**
   * A channel on which nothing (frame or heartbeat ping) arrived for this long is closed
   * and the next address tried: the tracker pings every 30 s, so a silently dead
   * connection is noticed. @default 75000
   */
  silenceTimeoutMs?: number
  /**
   * The journal keeps final command records among the last this many sequence numbers
   * (older ones are pruned, see `journal-retention.ts`); keep it well above the tracker's
   * outbox bound (1,000). @default 2000 (`JOURNAL_KEEP_FINAL`)
   */
  journalKeepFinal?: number
  /**
   * How long `stop()` waits for a command whose content call ignores its abort before
   * stopping anyway (with a warning). @default 10000 (`STOP_DEADLINE_MS`)
   */
  stopTimeoutMs?: number
  /**
   * Where warnings an operator must see go, one JSON line each (`event`, `message`): a
   * damaged journal repaired or replaced, a stop that left a command running.
   * @default the process's stderr
   */
  onWarning?: (message: string) => void
  /**
   * Time between two health reports to a tracker that takes them (one is also sent right
   * after each welcome). @default 300000 (`HEALTH_INTERVAL_MS`, 5 minutes)
   */
  healthIntervalMs?: number
  /**
   * How often the node's health is looked at for an alarming change, reported at once; also
   * the least time between two reports. @default 10000 (`HEALTH_CHECK_MS`)
   */
  healthCheckMs?: number
}

/** Creates an agent; call `start()`. */
export function createAgent(components: AgentComponents, init: AgentInit): Agent {
  return new Agent(components, init)
}
export { nodeContentApi } from './node-content.ts'
export { nodeHealth } from './node-health.ts'
