/**
 * The tracker's public types: what `createTracker` takes ({@link TrackerInit}) and what it
 * returns ({@link Tracker}). `index.ts` checks the options and builds it.
 */
import type { Libp2p } from '@libp2p/interface'
import type { FastifyInstance } from 'fastify'
import type { HostServices } from '../node/host/index.ts'
import type { BootstrapInit } from './bootstrap.ts'
import type { ChannelServer } from './channel/server.ts'
import type { RolloutEngine } from './rollout/engine.ts'
import type { ReleaseSweeper } from './rollout/sweeper.ts'
import type { TrackerState } from './state/index.ts'

/** Options of `createTracker`. */
export interface TrackerInit {
  /** Directory of the state (level, in `state/`) and the bootstrap key. @default in memory (lost on exit) */
  dataDir?: string
  /** Bearer token of the admin API. */
  adminToken: string
  /**
   * A bearer token of the admin API that reads only (`GET`: lists, status, event streams),
   * for dashboards and monitoring; `--viewer-token`. @default none
   */
  viewerToken?: string
  /**
   * A shared token any node may present once to enroll, into any campus. None: nodes enroll
   * only with tokens issued through the API (`POST /api/v1/enrollment-tokens`). @default none
   */
  enrollmentToken?: string
  /** @default '127.0.0.1' */
  host?: string
  /** 0 picks a free port. @default 7070 */
  port?: number
  /** fastify request logging. @default false */
  logger?: boolean
  /** First retransmit delay of an unACKed command. @default 5000 */
  retransmitInitialMs?: number
  /** Retransmit delay cap. @default 60000 */
  retransmitMaxMs?: number
  /** Heartbeat ping interval of the channels. @default 30000 */
  heartbeatIntervalMs?: number
  /** Most channel connections still in their handshake. @default 2000 */
  maxPendingHandshakes?: number
  /**
   * How often connected nodes' campus membership statements are checked against the
   * inventory: a node moved (campus, or its campus's city) gets a new one at the next check.
   * @default 10000
   */
  membershipCheckIntervalMs?: number
  /** Run a libp2p host as a DHT bootstrap peer for the nodes. @default false */
  bootstrap?: BootstrapInit | false
  /**
   * How long a finished release (completed, aborted, rolled back) keeps its per-node states
   * before it is compacted to counts: it can then no longer be rolled back, and once it
   * decides nothing it may be deleted (`rollout/retention.ts`). 0 keeps every release, in
   * full, for ever. @default 30 days
   */
  releaseRetentionMs?: number
  /** Time between two passes of the release sweeper. @default 10 minutes */
  releaseSweepIntervalMs?: number
  /** Most releases kept: creating one more answers 503 `ERR_CAPACITY`. @default 10000 */
  maxReleases?: number
  /**
   * Delay before a late member whose catch-up `place` failed or timed out is sent it again,
   * doubled at each further failure (`rollout/catch-up.ts`); `dandelion tracker
   * --catch-up-retry`. @default 10 minutes
   */
  catchUpRetryInitialMs?: number
  /** Longest delay between two catch-up attempts of a late member; `--catch-up-retry-max`. @default 24 hours */
  catchUpRetryMaxMs?: number
  /**
   * Time between two scheduled backups into `<dataDir>/backups/` (`state/backup.ts`); none
   * unless set (backups are still taken on request, `POST /api/v1/backups`). `--backup-interval`.
   */
  backupIntervalMs?: number
  /** Backups kept, newest first; `--backup-keep`. @default 7 */
  backupKeep?: number
}

/** A running tracker. */
export interface Tracker {
  /** Base HTTP URL, e.g. `http://127.0.0.1:7070`. */
  url: string
  /** Command channel URL for agents, e.g. `ws://127.0.0.1:7070/channel`. */
  channelUrl: string
  /**
   * The tracker's PeerId (key in `<dataDir>/tracker.key`): it signs the welcome and every
   * command; nodes pin it (`--tracker-id`, else the first one they meet).
   */
  trackerId: string
  state: TrackerState
  engine: RolloutEngine
  channel: ChannelServer
  /** Compacts and deletes old releases (`rollout/sweeper.ts`); `sweep()` runs a pass now. */
  retention: ReleaseSweeper
  app: FastifyInstance
  /** The DHT bootstrap host, when enabled; nodes list `bootstrapAddrs` in their `bootstrap`. */
  libp2p?: Libp2p<HostServices>
  /** Multiaddrs (with `/p2p/<id>`) of the bootstrap host. */
  bootstrapAddrs: string[]
  close(): Promise<void>
}
