/**
 * Wires swarms to libp2p: the `/dandelion/swarm/1.0.0` handler, opening sessions to
 * connected peers and to DHT providers, bans. Each swarm's manifest is announced through
 * the {@link Announcer} until a DHT peer has heard it; the DHT's own reprovider keeps the
 * records alive after that.
 *
 * A swarm that seeks looks its providers up again while something waits on it
 * ({@link ProviderLookups}, `provider-lookups.ts`).
 *
 * Only a swarm that misses chunks reaches out: a node holding content whole waits for the
 * peers that want it, so two nodes that both hold a school year of lessons do not open a
 * stream per lesson to each other just to learn there is nothing to swap.
 */
import type { Connection, Libp2p, Logger, PeerId, Stream } from '@libp2p/interface'
import type { KadDHT } from '@libp2p/kad-dht'
import { peerIdFromString } from '@libp2p/peer-id'
import { UploadGate } from '../limiter/index.ts'
import {
  BAN_MS,
  MAX_BANNED_PEERS,
  MAX_PROTOCOL_OFFENSES,
  MAX_STREAM_OPENS_PER_PEER,
  SWARM_PROTOCOL,
} from '../node-constants.ts'
import { Announcer } from './announcer.ts'
import { Bans } from './bans.ts'
import { withDeadline } from './deadline.ts'
import { ProtocolError } from './errors.ts'
import { ProviderLookups } from './provider-lookups.ts'
import { PeerSession, type PeerSessionInit, type SessionOwner } from './session.ts'
import type { Swarm } from './swarm.ts'

const nobody: SessionOwner = {
  onFrame: () => {},
  onClose: () => {},
  serve: async () => false,
  // before a hello names the swarm every frame but a hello is refused anyway
  admitChunk: () => false,
  rarity: () => 0,
  uploads: new UploadGate(1),
}

/** Options of a {@link SwarmNetwork}. */
export interface SwarmNetworkInit {
  dht?: KadDHT
  /** Banned peers, shared with the host's connection gater. @default a new, unshared set */
  bans?: Bans
  /** A swarm stream with no whole hello from the peer after this long is closed. @default HELLO_TIMEOUT_MS */
  helloTimeoutMs?: number
}

/** The swarms of a node on its libp2p host. */
export class SwarmNetwork {
  readonly swarms = new Map<string, Swarm>()
  private readonly libp2p: Libp2p
  private readonly log: Logger
  private readonly bans: Bans
  /** Protocol violations per peer: how many, since when (a window of BAN_MS). */
  private readonly offenses = new Map<string, { count: number; since: number }>()
  /** Per peer: swarm streams being opened now, and the swarms waiting for their turn. */
  private readonly opening = new Map<string, { inFlight: number; waiting: Map<string, Swarm> }>()
  /** Provider lookups, with a DHT. */
  private readonly lookups?: ProviderLookups
  private stopped = false
  private readonly announcer?: Announcer
  private readonly sessionInit: PeerSessionInit
  private readonly onConnect = (evt: CustomEvent<PeerId>): void => {
    for (const swarm of this.swarms.values()) if (swarm.seeking) this.open(swarm, evt.detail)
    this.announcer?.peerConnected()
  }

  constructor(libp2p: Libp2p, log: Logger, init: SwarmNetworkInit = {}) {
    this.libp2p = libp2p
    this.bans = init.bans ?? new Bans()
    this.sessionInit = { helloTimeoutMs: init.helloTimeoutMs }
    this.log = log
    if (init.dht === undefined) return
    this.announcer = new Announcer(init.dht, log)
    this.lookups = new ProviderLookups({
      libp2p,
      log,
      joined: (swarm) => !this.stopped && this.swarms.get(swarm.key) === swarm,
      open: (swarm, peer) => this.open(swarm, peer),
    })
  }

  async start(): Promise<void> {
    this.stopped = false
    await this.libp2p.handle(SWARM_PROTOCOL, (stream, connection) => this.inbound(stream, connection), {
      maxInboundStreams: 1024,
      maxOutboundStreams: 1024,
    })
    this.libp2p.addEventListener('peer:connect', this.onConnect)
  }

  async stop(): Promise<void> {
    this.libp2p.removeEventListener('peer:connect', this.onConnect)
    this.stopped = true
    this.announcer?.stop()
    this.lookups?.stop()
    for (const s of this.swarms.values()) s.stop()
    this.swarms.clear()
    await this.libp2p.unhandle(SWARM_PROTOCOL).catch(() => {})
  }

  /**
   * Registers a swarm (peers asking for it are answered) and announces its manifest CID
   * (never each chunk). It reaches out once it seeks chunks ({@link Swarm.seek}).
   */
  join(swarm: Swarm): void {
    this.swarms.set(swarm.key, swarm)
    swarm.onSeek = () => this.reachOut(swarm)
    this.announcer?.add(swarm)
  }

  /** Opens sessions to every connected peer and to the DHT's providers of the manifest. */
  private reachOut(swarm: Swarm): void {
    for (const peer of this.libp2p.getPeers()) this.open(swarm, peer)
    this.lookups?.add(swarm)
  }

  leave(key: string): void {
    const swarm = this.swarms.get(key)
    if (swarm !== undefined) this.lookups?.forget(swarm)
    swarm?.stop()
    this.swarms.delete(key)
  }

  /** Drops and bans a peer for {@link BAN_MS}. */
  ban(peer: string, reason: string): void {
    this.log('banning %s: %s', peer, reason)
    this.bans.add(peer)
    for (const swarm of this.swarms.values())
      swarm.sessions.get(peer)?.fail(new ProtocolError(`banned: ${reason}`))
    this.libp2p.hangUp(peerIdFromString(peer)).catch(() => {})
  }

  /**
   * A peer broke the protocol on one of its streams (already closed): "scoring the peer
   * down" across streams, so that a peer sending malformed frames cannot simply open
   * stream after stream. The {@link MAX_PROTOCOL_OFFENSES}th within BAN_MS bans it.
   */
  offense(peer: string, reason: string): void {
    if (this.isBanned(peer)) return
    const now = Date.now()
    const previous = this.offenses.get(peer)
    const o = previous === undefined || now - previous.since > BAN_MS ? { count: 0, since: now } : previous
    this.offenses.delete(peer)
    o.count++
    this.log('protocol violation %d by %s: %s', o.count, peer, reason)
    if (o.count >= MAX_PROTOCOL_OFFENSES) {
      this.ban(peer, `${o.count} protocol violations, the last: ${reason}`)
      return
    }
    if (this.offenses.size >= MAX_BANNED_PEERS) this.offenses.delete(this.offenses.keys().next().value!)
    this.offenses.set(peer, o)
  }

  isBanned(peer: string): boolean {
    return this.bans.has(peer)
  }

  /**
   * Opens a session with `peer` for `swarm` unless one exists, at most
   * {@link MAX_STREAM_OPENS_PER_PEER} opening at once per peer (the rest wait their turn).
   */
  open(swarm: Swarm, peer: PeerId): void {
    const id = peer.toString()
    if (swarm.stopped || swarm.sessions.has(id) || this.isBanned(id) || !swarm.wantsPeer()) return
    const connection = this.libp2p.getConnections(peer).find((c) => c.status === 'open')
    if (connection === undefined) return
    let slots = this.opening.get(id)
    if (slots === undefined) {
      slots = { inFlight: 0, waiting: new Map() }
      this.opening.set(id, slots)
    }
    if (slots.inFlight >= MAX_STREAM_OPENS_PER_PEER) {
      // one entry per swarm: bounded by the swarms this node has
      slots.waiting.set(swarm.key, swarm)
      return
    }
    slots.inFlight++
    const done = (): void => {
      slots.inFlight--
      // hand the slot on to the first waiting swarm that still opens a stream to this peer
      for (const [key, next] of slots.waiting) {
        slots.waiting.delete(key)
        const before = slots.inFlight
        this.open(next, peer)
        if (slots.inFlight > before) break
      }
      if (slots.inFlight === 0 && slots.waiting.size === 0 && this.opening.get(id) === slots)
        this.opening.delete(id)
    }
    withDeadline(10_000, async (signal) => await connection.newStream(SWARM_PROTOCOL, { signal }))
      .finally(done)
      .then((stream) => {
        // left while the stream was opening: it would belong to nobody
        if (swarm.stopped) {
          stream.abort(new ProtocolError('swarm left'))
          return
        }
        const session = new PeerSession(stream, connection, swarm.router, this.log, this.sessionInit)
        session.onOffense = (reason) => this.offense(id, reason)
        session.attach((hello) => {
          if (hello.manifest !== swarm.key) throw new ProtocolError('hello names another manifest')
          if (!swarm.addSession(session, this.libp2p.peerId.toString())) session.close()
        })
        session.sendHello(swarm.hello())
      })
      .catch((err: Error) => this.log('swarm stream to %s failed: %s', id, err.message))
  }

  private inbound(stream: Stream, connection: Connection): void {
    const peer = connection.remotePeer.toString()
    if (this.isBanned(peer)) {
      stream.abort(new ProtocolError('banned'))
      return
    }
    const session = new PeerSession(stream, connection, nobody, this.log, this.sessionInit)
    session.onOffense = (reason) => this.offense(peer, reason)
    session.attach((hello) => {
      const swarm = this.swarms.get(hello.manifest)
      if (swarm === undefined || swarm.stopped) throw new ProtocolError('not in that swarm')
      session.owner = swarm.router
      session.sendHello(swarm.hello())
      if (!swarm.addSession(session, this.libp2p.peerId.toString())) session.close()
    })
  }
}
