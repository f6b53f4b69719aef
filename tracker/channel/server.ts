/**
 * The command channel server: one WebSocket per node. Authenticates the node by key
 * (its hello admitted in `hello.ts`, signatures in `auth.ts`), replays its outbox after
 * every (re)connect (the hello, from admission to replay, in `welcome.ts`), retransmits
 * unACKed commands with exponential backoff (`transmit.ts`), and feeds ACKs, progress and
 * outcomes to the engine (`reports.ts`). The tracker authenticates itself in turn: it names
 * its key in the challenge and signs the welcome and every command with it
 * (`node/agent/tracker-auth.ts`). Nodes that name the feature are sent signed statements of
 * their campus membership (`membership.ts`). Its types are in `server-types.ts`; what it
 * does to a socket (closing it with a grace, the heartbeat, refusing another path), in
 * `socket.ts`.
 */
import type { IncomingMessage, Server } from 'node:http'
import type { Duplex } from 'node:stream'
import { logger } from '@libp2p/logger'
import { type WebSocket, WebSocketServer } from 'ws'
import {
  CHANNEL_PROTOCOL,
  CLOSE_CODES,
  MAX_FRAME_BYTES,
  type NodeFrame,
  parseNodeFrame,
  type ServerFrame,
} from '../../node/agent/protocol.ts'
import type { TrackerSigner } from '../../node/agent/tracker-auth.ts'
import {
  CHANNEL_PATH,
  HEARTBEAT_INTERVAL_MS,
  HELLO_TIMEOUT_MS,
  MAX_PENDING_HANDSHAKES,
  RETRANSMIT_INITIAL_MS,
  RETRANSMIT_MAX_MS,
  RETRANSMIT_TICK_MS,
} from '../constants.ts'
import { HealthBook } from '../health/book.ts'
import type { NodeEvents } from '../node-events.ts'
import type { RolloutEngine } from '../rollout/engine.ts'
import type { TrackerState, Tx } from '../state/index.ts'
import { newNonce } from './auth.ts'
import { MEMBERSHIP_CHECK_INTERVAL_MS, MembershipIssuer, type MembershipSession } from './membership.ts'
import { applyReport, type ReportComponents } from './reports.ts'
import type { ChannelServerComponents, ChannelServerInit, ChannelStats, Session } from './server-types.ts'
import { closeChannel, pathOf, ping, refuseUpgrade, sendFrame } from './socket.ts'
import { CommandSender } from './transmit.ts'
import { handleHello, type WelcomeComponents } from './welcome.ts'

export type { ChannelServerComponents, ChannelServerInit, ChannelStats } from './server-types.ts'

const log = logger('dandelion:tracker:channel')

/** See the module comment. */
export class ChannelServer {
  readonly stats: ChannelStats = {
    connected: 0,
    sent: 0,
    retransmits: 0,
    acks: 0,
    outcomes: 0,
    authFailures: 0,
  }
  /** The nodes' latest health reports, in memory (`health/book.ts`). */
  readonly health = new HealthBook()
  private readonly state: TrackerState
  private readonly engine: () => RolloutEngine
  private readonly signer: TrackerSigner
  private readonly nodeEvents?: NodeEvents
  /** Signs, sends and retransmits the commands (`transmit.ts`). */
  private readonly sender: CommandSender
  /** Where the nodes' reports go (`reports.ts`). */
  private readonly reports: ReportComponents
  private readonly init: Required<Omit<ChannelServerInit, 'enrollmentToken'>> &
    Pick<ChannelServerInit, 'enrollmentToken'>
  private readonly wss: WebSocketServer
  private readonly sessions = new Map<string, Session>()
  private readonly all = new Set<Session>()
  private timer?: NodeJS.Timeout
  private heartbeat?: NodeJS.Timeout
  private membershipTimer?: NodeJS.Timeout
  private readonly membership: MembershipIssuer
  /** What a hello is handled with (`welcome.ts`). */
  private readonly welcoming: WelcomeComponents
  private closing = false

  constructor(components: ChannelServerComponents, init: ChannelServerInit) {
    this.state = components.state
    this.engine = components.engine
    this.signer = components.signer
    this.nodeEvents = components.nodeEvents
    // `??`, not spread: an explicit `undefined` from a caller must not erase a default
    this.init = {
      enrollmentToken: init.enrollmentToken,
      retransmitInitialMs: init.retransmitInitialMs ?? RETRANSMIT_INITIAL_MS,
      retransmitMaxMs: init.retransmitMaxMs ?? RETRANSMIT_MAX_MS,
      heartbeatIntervalMs: init.heartbeatIntervalMs ?? HEARTBEAT_INTERVAL_MS,
      maxPendingHandshakes: init.maxPendingHandshakes ?? MAX_PENDING_HANDSHAKES,
      membershipCheckIntervalMs: init.membershipCheckIntervalMs ?? MEMBERSHIP_CHECK_INTERVAL_MS,
    }
    this.sender = new CommandSender(
      { state: this.state, signer: this.signer, stats: this.stats, send: (s, f) => this.send(s, f) },
      this.init,
    )
    this.reports = { state: this.state, engine: this.engine, stats: this.stats, health: this.health }
    this.membership = new MembershipIssuer({
      inventory: () => this.state.committed.inventory,
      signer: this.signer.membership,
    })
    this.welcoming = {
      state: this.state,
      enrollmentToken: this.init.enrollmentToken,
      sessions: this.sessions,
      stats: this.stats,
      engine: this.engine,
      signer: this.signer,
      nodeEvents: this.nodeEvents,
      membership: this.membership,
      health: this.health,
      send: (s, f) => this.send(s, f),
      deliver: (nodeId) => this.deliver(nodeId),
    }
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: MAX_FRAME_BYTES,
      perMessageDeflate: false,
      handleProtocols: (protocols) => (protocols.has(CHANNEL_PROTOCOL) ? CHANNEL_PROTOCOL : false),
    })
    this.wss.on('connection', (ws) => this.onConnection(ws))
    // A failed write drops what the writers' memory held beyond the disk, commands and ACKs
    // included: every node reconnects once the state is reloaded and is replayed its outbox
    // as it is on disk (it answers what it already has from its journal).
    this.state.on('failed', () => {
      for (const s of this.all) closeChannel(s.ws, CLOSE_CODES.shutdown, 'state unavailable')
    })
  }

  /** Takes WebSocket upgrades of `CHANNEL_PATH` on `server`. */
  attach(server: Server): void {
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      if (pathOf(req.url) !== CHANNEL_PATH) {
        refuseUpgrade(socket)
        return
      }
      this.wss.handleUpgrade(req, socket, head, (ws) => this.wss.emit('connection', ws, req))
    })
    this.timer = setInterval(() => this.retransmit(), RETRANSMIT_TICK_MS)
    this.timer.unref()
    this.heartbeat = setInterval(() => ping(this.all), this.init.heartbeatIntervalMs)
    this.heartbeat.unref()
    this.membershipTimer = setInterval(() => this.refreshMemberships(), this.init.membershipCheckIntervalMs)
    this.membershipTimer.unref()
  }

  /**
   * Sends a new statement to each node that named the feature and was moved (campus, or its
   * campus's city) since its last one, or whose last one is a day old (`membership.ts`).
   */
  private refreshMemberships(): void {
    if (this.closing || this.unavailable()) return
    for (const [m, membership] of this.membership.due(this.members())) {
      const s = this.sessions.get(m.nodeId)
      if (s !== undefined) this.send(s, { t: 'membership', membership })
    }
  }

  /** The connected nodes that named the membership feature. */
  private *members(): Generator<MembershipSession> {
    for (const s of this.sessions.values()) if (s.membership !== undefined) yield s.membership
  }

  /**
   * Records when a node's channel closed (`lastSeenAt`, shown by `GET /nodes`), without
   * sync: it is advisory. Not while the tracker closes ({@link close} records every node
   * connected then) or its state is unavailable. Nothing is written at a hello: a write
   * per connection would also tell `/health` that the disk works when no change did.
   */
  private lastSeen(nodeId: string): void {
    if (this.closing || this.unavailable() || !this.state.inventory.nodes.has(nodeId)) return
    const tx = this.state.tx()
    this.state.inventory.seen(tx, nodeId, Date.now())
    this.persist(tx)
  }

  /** Closes every connection. */
  async close(): Promise<void> {
    this.closing = true
    // the nodes connected until now were seen now; a crash loses this (they show when
    // their channel last closed before)
    if (this.sessions.size > 0 && !this.unavailable()) {
      const tx = this.state.tx()
      const now = Date.now()
      for (const nodeId of this.sessions.keys()) this.state.inventory.seen(tx, nodeId, now)
      await tx.commit().catch((err) => log.error('recording when nodes were last seen failed: %e', err))
    }
    clearInterval(this.timer)
    clearInterval(this.heartbeat)
    clearInterval(this.membershipTimer)
    for (const s of this.all) closeChannel(s.ws, CLOSE_CODES.shutdown, 'shutdown')
    // every channel is dropped if it does not answer within the grace (`closeChannel`)
    await new Promise<void>((resolve) => this.wss.close(() => resolve()))
  }

  /** Closes a node's channel (deleted, or its machine unbound), forgets its health; it must authenticate again. */
  drop(nodeId: string, reason = 'dropped'): void {
    this.health.forget(nodeId)
    const s = this.sessions.get(nodeId)
    if (s !== undefined) closeChannel(s.ws, CLOSE_CODES.unauthorized, reason)
  }

  /** Is the node connected and authenticated? */
  isConnected(nodeId: string): boolean {
    return this.sessions.has(nodeId)
  }

  private send(s: Session, frame: ServerFrame): void {
    sendFrame(s, frame)
  }

  private onConnection(ws: WebSocket): void {
    // First, before any refusal below: a WebSocket emits 'error' for a broken frame (one over
    // MAX_FRAME_BYTES, a bad opcode) even while it is being closed, and an 'error' event
    // without a listener is thrown: any peer could end the tracker process with one frame
    // sent on a connection refused as busy.
    ws.on('error', (err) => log('socket error: %s', err.message))
    // bounded: connections still in their handshake (each costs a signature check)
    if (this.all.size - this.sessions.size >= this.init.maxPendingHandshakes) {
      this.stats.authFailures++
      closeChannel(ws, CLOSE_CODES.busy, 'too many handshakes')
      return
    }
    if (!this.state.available) {
      closeChannel(ws, CLOSE_CODES.shutdown, 'state unavailable')
      return
    }
    const s: Session = { ws, nonce: newNonce(), alive: true }
    ws.on('pong', () => {
      s.alive = true
    })
    this.all.add(s)
    s.helloTimer = setTimeout(() => closeChannel(ws, CLOSE_CODES.unauthorized, 'no hello'), HELLO_TIMEOUT_MS)
    ws.on('message', (data, isBinary) => {
      const frame = isBinary ? undefined : parseNodeFrame(data.toString())
      if (frame === undefined) {
        closeChannel(ws, CLOSE_CODES.protocol, 'bad frame')
        return
      }
      this.onFrame(s, frame).catch((err) => {
        log.error('frame from %s failed: %e', s.nodeId ?? 'unauthenticated', err)
        closeChannel(ws, CLOSE_CODES.protocol, 'internal error')
      })
    })
    ws.on('close', () => {
      clearTimeout(s.helloTimer)
      this.all.delete(s)
      if (s.nodeId !== undefined && this.sessions.get(s.nodeId) === s) {
        this.sessions.delete(s.nodeId)
        this.stats.connected--
        this.lastSeen(s.nodeId)
        // not when the tracker closes them all: that is the tracker stopping, not the node
        if (!this.closing) this.nodeEvents?.announce({ type: 'node.disconnected', nodeId: s.nodeId })
      }
    })
    this.send(s, { t: 'challenge', nonce: s.nonce, trackerId: this.signer.id })
  }

  private async onFrame(s: Session, f: NodeFrame): Promise<void> {
    // a channel being closed (a failed write closes them all) is replayed when it is back
    if (this.unavailable() || s.ws.readyState !== s.ws.OPEN) return
    if (f.t === 'hello') return handleHello(this.welcoming, s, f)
    // Every frame but hello requires an authenticated session.
    if (s.nodeId === undefined) {
      closeChannel(s.ws, CLOSE_CODES.protocol, 'hello first')
      return
    }
    const tx = this.state.tx()
    // not synced: a lost report is recovered by the replay after a restart (the node answers
    // a replayed command from its journal)
    if (applyReport(this.reports, tx, s.nodeId, f)) this.persist(tx)
  }

  /**
   * ACKs, progress and outcomes are written without waiting and without sync: after a
   * crash the replay recovers them (the node answers a replayed command from its journal).
   */
  private persist(tx: Tx): void {
    // a failure closes every channel (see the constructor): the replay recovers the rest
    tx.commit().catch((err) => log.error('persisting channel state failed: %e', err))
  }

  /** Sends a node's not-yet-sent commands if it is connected. */
  deliver(nodeId: string): void {
    if (this.unavailable()) return
    const s = this.sessions.get(nodeId)
    if (s === undefined) return
    this.sender.deliver(s, nodeId, Date.now())
  }

  /**
   * True while the state is reloaded after a failed write (see `TrackerState.available`):
   * memory may hold commands that are not on disk, so nothing is sent or received; every
   * channel was closed as the write failed, and new ones are refused until it is reloaded.
   */
  private unavailable(): boolean {
    return !this.state.available
  }

  private retransmit(): void {
    if (this.unavailable()) return
    this.sender.retransmit(this.sessions, Date.now())
  }
}
