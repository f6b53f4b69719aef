/**
 * Connects to the peers mDNS finds on the LAN. libp2p (since 2.0) only records a
 * discovered peer in its peer store and never dials it, so a node started with `mdns`
 * would hear the campus node next door and still never swap a chunk with it. Once
 * connected, the swarms that miss chunks open sessions to the peer like to any other
 * (`SwarmNetwork`'s `peer:connect`).
 *
 * Bounded: at most {@link MAX_PENDING_LAN_DIALS} dials at once, none while the node holds
 * {@link MAX_LAN_CONNECTIONS} connections, each with a deadline. mDNS answers every query
 * again, so a peer skipped now is found again at the next one.
 */
import type { Libp2p, Logger, PeerInfo } from '@libp2p/interface'
import { isLoopback } from '@libp2p/utils'
import { LAN_DIAL_TIMEOUT_MS, MAX_LAN_CONNECTIONS, MAX_PENDING_LAN_DIALS } from '../node-constants.ts'
import { withDeadline } from '../swarm/deadline.ts'

/** What a {@link LanDialer} uses. */
export interface LanDialerComponents {
  logger: Logger
}

/** Dials peers found by mDNS (see the module comment). */
export class LanDialer {
  private readonly log: Logger
  private libp2p?: Libp2p
  private readonly pending = new Set<string>()
  /** Answers heard before {@link attach} (mDNS asks as soon as libp2p starts), replayed then. */
  private early: PeerInfo[] = []
  /** Detached: answers still arriving while libp2p stops are dropped, not kept for a next start. */
  private detached = false

  constructor(components: LanDialerComponents) {
    this.log = components.logger
  }

  /** Starts dialing what is found, through `libp2p`. */
  attach(libp2p: Libp2p): void {
    this.libp2p = libp2p
    this.detached = false
    for (const peer of this.early.splice(0)) this.found(peer)
  }

  /** Stops dialing (dials under way end at their deadline or with the host). */
  detach(): void {
    this.libp2p = undefined
    this.detached = true
    this.early = []
  }

  /** An mDNS answer: dial the peer unless connected, already dialing, or at a bound. */
  found(peer: PeerInfo): void {
    const libp2p = this.libp2p
    if (libp2p === undefined) {
      if (!this.detached && this.early.length < MAX_PENDING_LAN_DIALS * 4) this.early.push(peer)
      return
    }
    if (libp2p.status !== 'started') return
    const id = peer.id.toString()
    if (peer.id.equals(libp2p.peerId) || this.pending.has(id)) return
    if (libp2p.getConnections(peer.id).length > 0) return
    if (this.pending.size >= MAX_PENDING_LAN_DIALS) return
    if (libp2p.getConnections().length >= MAX_LAN_CONNECTIONS) return
    // a peer on another machine lists its loopback address too (a daemon listens on
    // 0.0.0.0): dialing that reaches this machine, not the peer, so it is used only when it
    // is all there is (peers on this machine, tests)
    const lan = peer.multiaddrs.filter((a) => !isLoopback(a))
    // each address names the peer, so the handshake checks it is that peer
    const addrs = (lan.length > 0 ? lan : peer.multiaddrs).map((a) => a.encapsulate(`/p2p/${id}`))
    if (addrs.length === 0) return
    this.pending.add(id)
    this.log('dialing %s, found by mDNS', id)
    withDeadline(LAN_DIAL_TIMEOUT_MS, async (signal) => await libp2p.dial(addrs, { signal }))
      .catch((err: Error) => this.log('dial %s (found by mDNS) failed: %s', id, err.message))
      .finally(() => this.pending.delete(id))
  }
}
