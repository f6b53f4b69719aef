/**
 * Wires swarms to libp2p: the `/dandelion/swarm/1.0.0` handler, opening sessions to
 * connected peers and to DHT providers, bans. Each swarm's manifest is announced through
 * the {@link Announcer} until a DHT peer has heard it; the DHT's own reprovider keeps the
 * records alive after that.
 *
 * A swarm that seeks looks its providers up again: 1 s after a lookup ends, doubling up
 * to {@link RELOOKUP_MAX_MS}, while something waits on it (its manifest is still looked
 * up, or a fetch or a reader downloads: `Swarm.busy`; a lesson streamed once and left
 * partly held looks again when a reader comes back, not meanwhile). Before, it looked once,
 * when it first sought: a device that asked for a lesson before any campus node had
 * announced it (both booting, or the holder offline for a moment), or whose providers were
 * all unreachable then, never found the holder that came later, and its fetch hung until
 * its deadline while the DHT listed a peer holding the lesson (a device is a DHT client:
 * an announcing peer never dials it, so no connection brought the two together either).
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
  ANNOUNCE_RETRY_MS,
  BAN_MS,
  FIND_PROVIDERS_CONCURRENCY,
  FIND_PROVIDERS_TIMEOUT_MS,
  MAX_BANNED_PEERS,
  MAX_PROTOCOL_OFFENSES,
  MAX_PROVIDERS_PER_LOOKUP,
  MAX_STREAM_OPENS_PER_PEER,
  SWARM_PROTOCOL,
} from '../node-constants.ts'
import { Announcer } from './announcer.ts'
import { Bans } from './bans.ts'
import { withDeadline } from './deadline.ts'
import { discoveryKey } from './discovery-key.ts'
import { ProtocolError } from './errors.ts'
import { PeerSession, type PeerSessionInit, type SessionOwner } from './session.ts'
import type { Swarm } from './swarm.ts'

/** First provider lookup again after one ends, while the swarm still seeks. */
const FIRST_RELOOKUP_MS = 1000
/** Longest wait between provider lookups of a swarm that still seeks (the same as announcements'). */
const RELOOKUP_MAX_MS = ANNOUNCE_RETRY_MS

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
  /** Swarms waiting for a provider lookup, and how many run ({@link FIND_PROVIDERS_CONCURRENCY} at most). */
  private readonly lookupQueue = new Set<Swarm>()
  private lookupsRunning = 0
  /** Per seeking swarm: the next provider lookup's timer and delay (one entry per swarm). */
  private readonly relookups = new Map<Swarm, { timer?: ReturnType<typeof setTimeout>; delayMs: number }>()
  private stopped = false
  private readonly dhtEnabled: boolean
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
    this.dhtEnabled = init.dht !== undefined
    if (init.dht !== undefined) this.announcer = new Announcer(init.dht, log)
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
    this.lookupQueue.clear()
    for (const r of this.relookups.values()) clearTimeout(r.timer)
    this.relookups.clear()
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
    if (!this.dhtEnabled) return
    this.lookupQueue.add(swarm)
    this.nextLookups()
  }

  /** Starts queued provider lookups while fewer than {@link FIND_PROVIDERS_CONCURRENCY} run. */
  private nextLookups(): void {
    for (const swarm of this.lookupQueue) {
      if (this.lookupsRunning >= FIND_PROVIDERS_CONCURRENCY) return
      this.lookupQueue.delete(swarm)
      if (swarm.stopped || swarm.complete) continue
      this.lookupsRunning++
      this.findProviders(swarm)
        .catch((err: Error) => this.log('findProviders %s: %s', swarm.key, err.message))
        .finally(() => {
          this.lookupsRunning--
          this.relookLater(swarm)
          this.nextLookups()
        })
    }
  }

  /** Whether `swarm` still seeks here: if not, its provider lookups end. */
  private stillSeeks(swarm: Swarm): boolean {
    return !this.stopped && swarm.seeking && this.swarms.get(swarm.key) === swarm
  }

  /**
   * Queues another provider lookup for `swarm` once its delay has passed, if it still seeks
   * then: a holder may have announced since, or come back (see the module comment).
   */
  private relookLater(swarm: Swarm): void {
    let r = this.relookups.get(swarm)
    if (!this.stillSeeks(swarm)) {
      clearTimeout(r?.timer)
      this.relookups.delete(swarm)
      return
    }
    if (r === undefined) {
      r = { delayMs: FIRST_RELOOKUP_MS }
      this.relookups.set(swarm, r)
    }
    if (r.timer !== undefined) return
    const entry = r
    entry.timer = setTimeout(() => {
      entry.timer = undefined
      entry.delayMs = Math.min(entry.delayMs * 2, RELOOKUP_MAX_MS)
      if (!this.stillSeeks(swarm)) {
        this.relookups.delete(swarm)
        return
      }
      // nobody waits on it now (left partly held), or it is at its cap of peers it would not
      // replace: no lookup now, but look at it again later
      if (!(swarm.busy || swarm.manifest === undefined) || !swarm.wantsPeer()) {
        this.relookLater(swarm)
        return
      }
      this.lookupQueue.add(swarm)
      this.nextLookups()
    }, entry.delayMs)
    entry.timer.unref?.()
  }

  /** Asks the DHT who provides the swarm's manifest, and opens sessions to them. */
  private async findProviders(swarm: Swarm): Promise<void> {
    let n = 0
    const signal = AbortSignal.timeout(FIND_PROVIDERS_TIMEOUT_MS)
    const key = await discoveryKey(swarm.cid)
    for await (const p of this.libp2p.contentRouting.findProviders(key, { signal })) {
      if (swarm.stopped || n++ >= MAX_PROVIDERS_PER_LOOKUP) break
      if (p.id.equals(this.libp2p.peerId) || swarm.sessions.has(p.id.toString())) continue
      withDeadline(10_000, async (signal) => await this.libp2p.dial(p.id, { signal }))
        .then(() => this.open(swarm, p.id))
        .catch((err: Error) => this.log('dial provider %p failed: %s', p.id, err.message))
    }
  }

  leave(key: string): void {
    const swarm = this.swarms.get(key)
    if (swarm !== undefined) {
      clearTimeout(this.relookups.get(swarm)?.timer)
      this.relookups.delete(swarm)
      this.lookupQueue.delete(swarm)
    }
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
        const session = new PeerSession(stream, connection, swarm, this.log, this.sessionInit)
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
      session.owner = swarm
      session.sendHello(swarm.hello())
      if (!swarm.addSession(session, this.libp2p.peerId.toString())) session.close()
    })
  }
}
