/**
 * What the swarm keeps about one peer while its session lasts: what the peer holds, our
 * requests to it (and those we withdrew lately), how well it delivers (rate, score,
 * snubs) and when it last did anything useful. `PeerSession` (`session.ts`) extends it with
 * the wire.
 */
import { RECENT_CANCELS_PER_PEER } from '../node-constants.ts'
import type { Bitfield } from './bitfield.ts'

/** The swarm's bookkeeping about one peer (the base of `PeerSession`). */
export class PeerState {
  /** What the peer holds (undefined until its bitfield arrives and the manifest is known). */
  bits?: Bitfield
  /** Raw bitfield received before the manifest was known. */
  pendingBits?: Uint8Array
  /** HAVEs received before the manifest was known. */
  pendingHaves: number[] = []
  /** Our requests to the peer: chunk index → time sent. */
  readonly outstanding = new Map<number, number>()
  /** When the session was opened. */
  readonly openedAt = performance.now()
  /** Last time the peer delivered a chunk to us, or we started waiting on it. */
  lastDeliveryAt = performance.now()
  /**
   * Last time the peer asked us for a chunk or delivered one we asked for (or the session
   * opened): a peer that does neither for a while holds a place at the cap on peers for
   * nothing (`peer-cap.ts`).
   */
  lastExchangeAt = this.openedAt
  /** Chunk bytes the peer delivered to us. */
  deliveredBytes = 0
  /** Smoothed delivery rate of the peer to us. */
  rateBytesPerSecond = 0
  private rateSampleAt = performance.now()
  private rateSampleBytes = 0
  /** Higher is better: delivered chunks up, stalls and refusals down. */
  score = 0
  /** Requests refused or stalled: no new requests before this time. */
  snubbedUntil = 0
  /** Super-seeding: chunks offered to this peer and not yet sent. */
  readonly offered = new Set<number>()
  /** Chunks the peer sent that we had not asked it for (nor withdrawn lately). */
  unsolicitedChunks = 0
  /**
   * Requests we withdrew from the peer lately (cancelled, or released on a stall or a
   * failure), oldest first, at most {@link RECENT_CANCELS_PER_PEER}: the chunk may have
   * been on its way already, and arrives without fault.
   */
  private readonly withdrawn = new Set<number>()

  /** Records that we withdrew our request for chunk `index` (it may still arrive, without fault). */
  withdrew(index: number): void {
    this.withdrawn.delete(index)
    this.withdrawn.add(index)
    if (this.withdrawn.size > RECENT_CANCELS_PER_PEER)
      this.withdrawn.delete(this.withdrawn.values().next().value!)
  }

  /** Whether we withdrew a request for chunk `index` lately; forgets it (one chunk per withdrawal). */
  takeWithdrawn(index: number): boolean {
    return this.withdrawn.delete(index)
  }

  /** Folds the bytes delivered since the last call into the smoothed rate. */
  updateRate(now: number): void {
    const dt = (now - this.rateSampleAt) / 1000
    if (dt <= 0) return
    const sample = (this.deliveredBytes - this.rateSampleBytes) / dt
    this.rateBytesPerSecond =
      this.rateBytesPerSecond === 0 ? sample : 0.6 * this.rateBytesPerSecond + 0.4 * sample
    this.rateSampleAt = now
    this.rateSampleBytes = this.deliveredBytes
  }
}
