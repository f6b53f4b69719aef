/**
 * The peers a node has banned (a corrupt chunk, repeated protocol violations), shared by
 * the swarms (their streams are refused) and the libp2p host's connection gater (no
 * connection to or from them at all until the ban ends). Bounded: past
 * {@link MAX_BANNED_PEERS} the oldest ban is forgotten.
 */
import { BAN_MS, MAX_BANNED_PEERS } from '../node-constants.ts'

/** Banned peers (by peer id string) and until when. */
export class Bans {
  private readonly until = new Map<string, number>()

  /** Bans `peer` for {@link BAN_MS} from now. */
  add(peer: string): void {
    this.until.delete(peer)
    if (this.until.size >= MAX_BANNED_PEERS) this.until.delete(this.until.keys().next().value!)
    this.until.set(peer, Date.now() + BAN_MS)
  }

  /** Peers banned right now. */
  get size(): number {
    const now = Date.now()
    for (const [peer, until] of this.until) if (until <= now) this.until.delete(peer)
    return this.until.size
  }

  has(peer: string): boolean {
    const until = this.until.get(peer)
    if (until === undefined) return false
    if (until > Date.now()) return true
    this.until.delete(peer)
    return false
  }
}
