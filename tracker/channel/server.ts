/**
 * The command channel server: one WebSocket per node. Authenticates the node by key
 * (see `auth.ts`), replays its outbox after every (re)connect, retransmits unACKed
 * commands with exponential backoff, and feeds ACKs, progress and outcomes to the engine.
 * The tracker authenticates itself in turn: it names its key in the challenge and signs
 * the welcome and every command with it (`node/agent/tracker-auth.ts`). Nodes that name the
 * feature are sent signed statements of their campus membership (`membership.ts`).
 */
import type { IncomingMessage, Server } from 'node:http'
import type { Duplex } from 'node:stream'
import { logger } from '@libp2p/logger'
import { type WebSocket, WebSocketServer } from 'ws'
import {
  CHANNEL_PROTOCOL,
  CLOSE_CODES,
  type Enrollment,
  MAX_FRAME_BYTES,
  MEMBERSHIP_FEATURE,
  type NodeFrame,
  parseNodeFrame,
  type ServerFrame,
} from '../../node/agent/protocol.ts'
import type { TrackerSigner } from '../../node/agent/tracker-auth.ts'
import type { SignedMembership } from '../../node/membership.ts'
import {
  CHANNEL_PATH,
  CLOSE_GRACE_MS,
  HEARTBEAT_INTERVAL_MS,
  HELLO_TIMEOUT_MS,
  MAX_PENDING_HANDSHAKES,
  RETRANSMIT_INITIAL_MS,
  RETRANSMIT_MAX_MS,
  RETRANSMIT_TICK_MS,
} from '../constants.ts'
import type { LastSeqOutOfRangeError } from '../errors.ts'
import type { RolloutEngine } from '../rollout/engine.ts'
import type { OutboxEntry, TrackerState, Tx } from '../state/index.ts'
import { newNonce, safeEqual, verifyHello } from './auth.ts'
import { MEMBERSHIP_CHECK_INTERVAL_MS, MembershipIssuer, type MembershipSession } from './membership.ts'

const log = logger('dandelion:tracker:channel')

/** Components of the channel server. */
export interface ChannelServerComponents {
  state: TrackerState
  engine: () => RolloutEngine
  /** Signs the welcome and the commands with the tracker's key. */
  signer: TrackerSigner
}

/** Options of the channel server. */
export interface ChannelServerInit {
  /** Token a node presents once, at enrollment. */
  enrollmentToken: string
  /** @default 30000 */
  heartbeatIntervalMs?: number
  /** @default 2000 */
  maxPendingHandshakes?: number
  /** @default 5000 */
  retransmitInitialMs?: number
  /** @default 60000 */
  retransmitMaxMs?: number
  /**
   * How often connected nodes' membership statements are checked against the inventory (a
   * node moved gets a new one at the next check). @default 10000
   */
  membershipCheckIntervalMs?: number
}

interface Session {
  ws: WebSocket
  nonce: string
  nodeId?: string
  /** The node's PeerId, once its hello checked out (commands are signed for it). */
  peerId?: string
  helloTimer?: NodeJS.Timeout
  /** Answered the last heartbeat ping. */
  alive: boolean
  /** Set once welcomed if the hello named the membership feature: what it was last stated. */
  membership?: MembershipSession
}

/** Counters exposed on `/metrics`. */
export interface ChannelStats {
  connected: number
  sent: number
  retransmits: number
  acks: number
  outcomes: number
  authFailures: number
}

/**
 * Closes a channel with `code`, and drops it if its peer has not answered the close within
 * {@link CLOSE_GRACE_MS}. ws waits 30 s for that answer: a dead link or a frozen peer held
 * each closing channel that long, counted meanwhile among the handshakes in progress
 * (`maxPendingHandshakes`), so a wave of reconnects onto dead links turned live nodes away
 * as busy, and a stopping tracker waited on it with its data directory locked.
 */
function closeChannel(ws: WebSocket, code: number, reason: string): void {
  // closing already: the first close set its own grace
  if (ws.readyState === ws.CLOSING || ws.readyState === ws.CLOSED) return
  ws.close(code, reason)
  const grace = setTimeout(() => ws.terminate(), CLOSE_GRACE_MS)
  grace.unref()
  ws.once('close', () => clearTimeout(grace))
}

/** Path of a request target; undefined when it does not parse (`new URL('//', base)` throws). */
function pathOf(url = '/'): string | undefined {
  try {
    return new URL(url, 'http://x').pathname
  } catch {
    return undefined
  }
}

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
  private readonly state: TrackerState
  private readonly engine: () => RolloutEngine
  private readonly signer: TrackerSigner
  /**
   * Each command's signature, made once (a retransmit sends the same bytes), with the
   * PeerId it was made for: a node deleted and enrolled again under the same id with a new
   * key still has its old commands replayed, and they must be signed for the new key.
   */
  private readonly signatures = new WeakMap<object, { peerId: string; sig: string }>()
  private readonly init: Required<ChannelServerInit>
  private readonly wss: WebSocketServer
  private readonly sessions = new Map<string, Session>()
  private readonly all = new Set<Session>()
  private timer?: NodeJS.Timeout
  private heartbeat?: NodeJS.Timeout
  private membershipTimer?: NodeJS.Timeout
  private readonly membership: MembershipIssuer
  private closing = false

  constructor(components: ChannelServerComponents, init: ChannelServerInit) {
    this.state = components.state
    this.engine = components.engine
    this.signer = components.signer
    // `??`, not spread: an explicit `undefined` from a caller must not erase a default
    this.init = {
      enrollmentToken: init.enrollmentToken,
      retransmitInitialMs: init.retransmitInitialMs ?? RETRANSMIT_INITIAL_MS,
      retransmitMaxMs: init.retransmitMaxMs ?? RETRANSMIT_MAX_MS,
      heartbeatIntervalMs: init.heartbeatIntervalMs ?? HEARTBEAT_INTERVAL_MS,
      maxPendingHandshakes: init.maxPendingHandshakes ?? MAX_PENDING_HANDSHAKES,
      membershipCheckIntervalMs: init.membershipCheckIntervalMs ?? MEMBERSHIP_CHECK_INTERVAL_MS,
    }
    this.membership = new MembershipIssuer({
      inventory: () => this.state.committed.inventory,
      signer: this.signer.membership,
    })
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
        // Node hands the socket of an upgrade to its listeners and no longer times it out or
        // closes it: one left alone stays open for ever. The server is half-open, so `end`
        // alone would wait for the client; destroy once the answer is flushed.
        socket.on('error', () => socket.destroy())
        socket.once('finish', () => socket.destroy())
        socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n')
        return
      }
      this.wss.handleUpgrade(req, socket, head, (ws) => this.wss.emit('connection', ws, req))
    })
    this.timer = setInterval(() => this.retransmit(), RETRANSMIT_TICK_MS)
    this.timer.unref()
    this.heartbeat = setInterval(() => this.ping(), this.init.heartbeatIntervalMs)
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

  private ping(): void {
    for (const s of this.all) {
      if (!s.alive) {
        s.ws.terminate()
        continue
      }
      s.alive = false
      s.ws.ping()
    }
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

  /** Closes a node's channel (e.g. the node was deleted); it must authenticate again. */
  drop(nodeId: string, reason = 'dropped'): void {
    const s = this.sessions.get(nodeId)
    if (s !== undefined) closeChannel(s.ws, CLOSE_CODES.unauthorized, reason)
  }

  /** Is the node connected and authenticated? */
  isConnected(nodeId: string): boolean {
    return this.sessions.has(nodeId)
  }

  private send(s: Session, frame: ServerFrame): void {
    if (s.ws.readyState === s.ws.OPEN) s.ws.send(JSON.stringify(frame))
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
      }
    })
    this.send(s, { t: 'challenge', nonce: s.nonce, trackerId: this.signer.id })
  }

  private refuse(s: Session, code: string, message: string, close: number = CLOSE_CODES.unauthorized): void {
    this.stats.authFailures++
    this.send(s, { t: 'error', code, message })
    closeChannel(s.ws, close, code)
  }

  private async onFrame(s: Session, f: NodeFrame): Promise<void> {
    // a channel being closed (a failed write closes them all) is replayed when it is back
    if (this.unavailable() || s.ws.readyState !== s.ws.OPEN) return
    if (f.t === 'hello') return this.onHello(s, f)
    // Every frame but hello requires an authenticated session.
    if (s.nodeId === undefined) {
      closeChannel(s.ws, CLOSE_CODES.protocol, 'hello first')
      return
    }
    const nodeId = s.nodeId
    const { outbox } = this.state
    const tx = this.state.tx()
    if (f.t === 'ack') {
      this.stats.acks++
      if (!outbox.ack(tx, nodeId, f.seq, f.id)) return
      this.engine().onAck(tx, nodeId, outbox.byCommand(f.id)!.cmd)
      this.persist(tx)
    } else if (f.t === 'progress') {
      const e = outbox.byCommand(f.id)
      if (e === undefined || e.nodeId !== nodeId) return
      this.engine().onProgress(tx, nodeId, e.cmd, f)
      this.persist(tx)
    } else if (f.t === 'outcome') {
      this.stats.outcomes++
      const e = outbox.byCommand(f.id)
      if (e === undefined || e.nodeId !== nodeId) return
      this.engine().onOutcome(tx, nodeId, e, f)
      outbox.outcome(tx, nodeId, f.id, f.status)
      // not synced: a lost outcome is recovered by the replay after a restart (the node
      // answers a replayed command from its journal)
      this.persist(tx)
    }
  }

  /**
   * ACKs, progress and outcomes are written without waiting and without sync: after a
   * crash the replay recovers them (the node answers a replayed command from its journal).
   */
  private persist(tx: Tx): void {
    // a failure closes every channel (see the constructor): the replay recovers the rest
    tx.commit().catch((err) => log.error('persisting channel state failed: %e', err))
  }

  private async onHello(s: Session, f: Extract<NodeFrame, { t: 'hello' }>): Promise<void> {
    if (s.nodeId !== undefined) return
    clearTimeout(s.helloTimer)
    // not kept for the life of the session: 5,000 sessions would hold 5,000 spent timers
    s.helloTimer = undefined
    // The hello MUST carry a signature of this connection's nonce by the key of `peerId`.
    if (!(await verifyHello(s.nonce, f.peerId, f.sig)))
      return this.refuse(s, 'ERR_BAD_SIGNATURE', 'bad signature')
    const { inventory, outbox } = this.state
    let node = inventory.nodeByPeer(f.peerId)
    if (node === undefined) {
      // the code stays ERR_NOT_ENROLLED (the agent and the daemon's hints match it); the
      // words say what to do, where "unknown peer" did not
      if (f.enroll === undefined)
        return this.refuse(
          s,
          'ERR_NOT_ENROLLED',
          'this node is not enrolled: its first connection needs the enrollment token (--enroll-token on the node, or DANDELION_ENROLLMENT_TOKEN)',
        )
      if (!safeEqual(f.enroll.token, this.init.enrollmentToken))
        return this.refuse(s, 'ERR_BAD_ENROLLMENT_TOKEN', 'bad enrollment token')
    }
    // The hello's lastSeq MUST be one this tracker can continue after; it is checked
    // before anything is saved (enrollment, sequence numbers).
    try {
      outbox.checkLastSeq(node?.id ?? (f.enroll as Enrollment).nodeId, f.lastSeq)
    } catch (err) {
      const e = err as LastSeqOutOfRangeError
      return this.refuse(s, e.code, e.message, CLOSE_CODES.protocol)
    }
    if (node === undefined) {
      const enroll = f.enroll as Enrollment
      const tx = this.state.tx()
      try {
        node = inventory.enroll(tx, enroll.nodeId, f.peerId, enroll)
      } catch (err) {
        return this.refuse(s, (err as { code?: string }).code ?? 'ERR_ENROLL', (err as Error).message)
      }
      await tx.commit({ sync: true })
      log('enrolled %s as %s', f.peerId, node.id)
    }
    // closed meanwhile, e.g. by a failed write: the state may have been reloaded since
    if (s.ws.readyState !== s.ws.OPEN) return
    const old = this.sessions.get(node.id)
    if (old !== undefined) {
      this.sessions.delete(node.id)
      this.stats.connected--
      closeChannel(old.ws, CLOSE_CODES.replaced, 'replaced')
    }
    s.nodeId = node.id
    s.peerId = f.peerId
    this.sessions.set(node.id, s)
    this.stats.connected++
    // Statements go only to nodes that asked: an older agent drops the connection on a frame
    // type it does not know (an extra welcome field it ignores).
    let membership: SignedMembership | undefined
    if (f.features?.includes(MEMBERSHIP_FEATURE) === true) {
      s.membership = { nodeId: node.id, peerId: f.peerId }
      membership = this.membership.issue(s.membership)
    }
    // the node's nonce makes the signature fresh: a recorded welcome proves nothing later
    const sig = this.signer.welcome({
      nodeNonce: f.nonce ?? '',
      trackerNonce: s.nonce,
      peerId: f.peerId,
      nodeId: node.id,
    })
    this.send(s, { t: 'welcome', nodeId: node.id, sig, ...(membership === undefined ? {} : { membership }) })
    // Replay: everything still in the outbox goes out again on a new connection. Commands
    // up to the node's last sequence are ones it has; it answers those from its dedup
    // record (ACK + last outcome), which also recovers outcomes a restarted tracker lost.
    const tx = this.state.tx()
    // the writers' outbox of now: after the enrollment's commit it may be a reloaded one
    const box = this.state.outbox
    box.ensureAbove(tx, node.id, f.lastSeq)
    // commands an abort withdrew while the node was away but that it holds (their ACK was
    // lost) come back, ACKed, for the replay to ask it what it did
    this.engine().onHello(tx, node.id, f.lastSeq)
    for (const e of box.entriesOf(node.id)) {
      if (e.cmd.seq <= f.lastSeq) box.ack(tx, node.id, e.cmd.seq, e.cmd.id)
      e.attempts = 0
    }
    // what its campus runs and it lacks (it enrolled, or was moved, after a release
    // completed there): queued after `ensureAbove`, so above every sequence it holds
    this.engine().reconcile(tx, node.id)
    await tx.commit({ sync: tx.ops.some((op) => op.key.startsWith('seq!')) })
    this.deliver(node.id)
  }

  /** Sends a node's not-yet-sent commands if it is connected. */
  deliver(nodeId: string): void {
    if (this.unavailable()) return
    const s = this.sessions.get(nodeId)
    if (s === undefined) return
    const now = Date.now()
    // A command MUST be on disk before it is sent: one whose commit is in flight (another
    // change's) may yet fail; its own committer delivers it once the commit succeeded.
    for (const e of this.state.outbox.entriesOf(nodeId))
      if (e.attempts === 0 && e.durable) this.transmit(s, e, now)
  }

  /**
   * True while the state is reloaded after a failed write (see `TrackerState.available`):
   * memory may hold commands that are not on disk, so nothing is sent or received; every
   * channel was closed as the write failed, and new ones are refused until it is reloaded.
   */
  private unavailable(): boolean {
    return !this.state.available
  }

  private transmit(s: Session, e: OutboxEntry, now: number): void {
    e.attempts++
    const delay = Math.min(this.init.retransmitInitialMs * 2 ** (e.attempts - 1), this.init.retransmitMaxMs)
    e.nextAt = now + delay
    this.stats.sent++
    const peerId = s.peerId as string
    let signed = this.signatures.get(e.cmd)
    if (signed?.peerId !== peerId) {
      signed = { peerId, sig: this.signer.command(peerId, e.cmd) }
      this.signatures.set(e.cmd, signed)
    }
    this.send(s, { t: 'cmd', cmd: e.cmd, sig: signed.sig })
  }

  private retransmit(): void {
    if (this.unavailable()) return
    const now = Date.now()
    for (const nodeId of this.state.outbox.nodesWithUnacked()) {
      const s = this.sessions.get(nodeId)
      if (s === undefined) continue
      for (const e of this.state.outbox.entriesOf(nodeId)) {
        if (e.state !== 'pending' || e.attempts === 0 || e.nextAt > now) continue
        // still flushing earlier frames to this node: re-sending would only queue behind them
        if (s.ws.bufferedAmount > 0) continue
        this.stats.retransmits++
        this.transmit(s, e, now)
      }
    }
  }
}
