/**
 * The receive path of one swarm: a chunk frame's header is admitted or skipped unread,
 * then its bytes are verified (BLAKE3 against the manifest, by the store's `put`) before
 * they count. A peer that sends a corrupt chunk is banned; a store that refuses a
 * verified one stops the download.
 */
import type { CID } from 'multiformats/cid'
import { MAX_UNSOLICITED_CHUNKS } from '../node-constants.ts'
import type { ChunkWaiters } from './chunk-waiters.ts'
import { FrameType } from './codec.ts'
import type { SwarmDownload } from './download.ts'
import { ProtocolError, StoreWriteError } from './errors.ts'
import type { RequestScheduler } from './scheduler.ts'
import type { PeerSession } from './session.ts'
import type { Swarm } from './swarm.ts'
import type { SwarmComponents, SwarmStats } from './swarm-types.ts'

/** What the receive path reads (and marks) of its swarm. */
export type IntakeSwarm = Pick<
  Swarm,
  | 'manifest'
  | 'have'
  | 'sessions'
  | 'failure'
  | 'key'
  | 'lastPeerProgressAt'
  | 'onProgress'
  | 'progress'
  | 'chunkLength'
>

/** Live things a {@link ChunkIntake} uses. */
export interface ChunkIntakeComponents extends Pick<SwarmComponents, 'store' | 'log' | 'ban' | 'totals'> {
  swarm: IntakeSwarm
  /** The swarm's own counters. */
  stats: SwarmStats
  scheduler: RequestScheduler
  /** Settled once every chunk is held, failed when the store refuses one. */
  download: SwarmDownload
  /** Playback readers blocked on chunks. */
  readers: ChunkWaiters
  /** Received chunks being verified and stored: neither missing nor held yet (kept here). */
  verifying: Set<number>
}

/** Admits, verifies, stores and announces the chunks peers (and the origin) send one swarm. */
export class ChunkIntake {
  private readonly swarm: IntakeSwarm
  private readonly c: ChunkIntakeComponents
  private readonly stats: SwarmStats
  private readonly scheduler: RequestScheduler
  private readonly verifying: Set<number>
  /** Puts to the store under way (peers' and the origin's chunks; bounded by the request windows). */
  private readonly puts = new Set<Promise<void>>()

  constructor(components: ChunkIntakeComponents) {
    this.c = components
    this.swarm = components.swarm
    this.stats = components.stats
    this.scheduler = components.scheduler
    this.verifying = components.verifying
  }

  /**
   * A chunk frame's header: "CHUNK" answers one of our REQUESTs. A chunk we did not ask this
   * peer for is skipped unread, never given a buffer (before, any chunk of a valid size was
   * copied into one and dropped as a duplicate, so a peer could make us allocate and copy
   * for free). One we withdrew lately (endgame, a stall, a failure) may have been on its
   * way, no fault: received and verified like any other if we still lack it (dropping it
   * only fetched the same bytes again), skipped unread if not. Anything else scores the
   * peer down, and past {@link MAX_UNSOLICITED_CHUNKS} on a stream is an offense.
   */
  admit(session: PeerSession, index: number): boolean {
    const m = this.swarm.manifest
    // no request can be out before the manifest is known
    if (m === undefined) throw new ProtocolError('chunk before the manifest')
    // an offense on the header: thrown in `receive` (async) it was only logged, and the stream stayed open
    if (index >= m.chunks.length) throw new ProtocolError(`chunk ${index} of ${m.chunks.length}`)
    if (session.outstanding.has(index)) return true
    if (session.takeWithdrawn(index)) {
      if (this.lacks(index)) return true
      this.stats.duplicateChunks++
      return false
    }
    session.score -= 1
    if (++session.unsolicitedChunks > MAX_UNSOLICITED_CHUNKS)
      throw new ProtocolError(`${session.unsolicitedChunks} chunks sent unasked`)
    this.c.log('peer %s sent chunk %d unasked in %s', session.peer, index, this.swarm.key)
    return false
  }

  /** Whether a chunk that arrives now would be stored: not held, not being verified, downloading not stopped. */
  private lacks(index: number): boolean {
    return this.swarm.failure === undefined && !this.swarm.have!.has(index) && !this.verifying.has(index)
  }

  /** A whole chunk frame from `session`, admitted on its header: verified, stored and counted. */
  async receive(session: PeerSession, index: number, bytes: Uint8Array): Promise<void> {
    const m = this.swarm.manifest
    // refused on the frame's header already (`admit`)
    if (m === undefined || index >= m.chunks.length) throw new ProtocolError('chunk for an unknown index')
    // "CHUNK" answers one of our REQUESTs. Not outstanding: withdrawn (`admit` lets
    // nothing else through), before its header or while its bytes were arriving; the peer
    // sent what we asked for, so it is verified and kept like any other chunk we still lack
    if (session.outstanding.has(index)) this.scheduler.release(session, index)
    else {
      session.takeWithdrawn(index)
      // downloading stopped meanwhile (`refuse` withdrew every request): nothing more is stored
      if (this.swarm.failure !== undefined) {
        this.stats.duplicateChunks++
        return
      }
    }
    session.lastDeliveryAt = performance.now()
    session.lastExchangeAt = session.lastDeliveryAt
    session.deliveredBytes += bytes.byteLength
    if (this.swarm.have!.has(index)) {
      this.stats.duplicateChunks++
      return
    }
    if (this.verifying.has(index)) {
      this.stats.duplicateChunks++
      return
    }
    const length = bytes.byteLength
    if (length !== this.swarm.chunkLength(index)) return this.corrupt(session, index)
    this.verifying.add(index)
    try {
      await this.put(m.chunks[index], bytes)
    } catch (err) {
      if ((err as Error).name === 'ChunkHashMismatchError') return this.corrupt(session, index)
      return this.fail(index, err as Error)
    } finally {
      this.verifying.delete(index)
    }
    session.score += 1
    this.swarm.lastPeerProgressAt = performance.now()
    this.stats.bytesFromPeers += length
    this.c.totals.bytesFromPeers += length
    this.markHave(index)
  }

  /**
   * Chunk `index` is verified and stored (from a peer or the origin): peers are told,
   * other copies requested are cancelled, waiting readers go on.
   */
  markHave(index: number): void {
    const swarm = this.swarm
    if (!swarm.have!.set(index)) return
    for (const s of swarm.sessions.values()) {
      // endgame: the other copies requested are cancelled (one may be on its way already)
      if (s.outstanding.has(index)) this.scheduler.withdraw(s, index)
      s.sendIndex(FrameType.Have, index)
    }
    this.c.readers.stored(index)
    swarm.onProgress?.(swarm.progress())
    if (swarm.have!.complete) {
      this.c.log('swarm %s complete', swarm.key)
      this.c.download.settle()
    }
    this.scheduler.schedule()
  }

  /** Stores a chunk (the store verifies it against `cid`), tracked until it settles. */
  put(cid: CID, bytes: Uint8Array, options: { signal?: AbortSignal } = {}): Promise<void> {
    const put = this.c.store.put(cid, bytes, options)
    this.puts.add(put)
    const done = (): void => {
      this.puts.delete(put)
    }
    put.then(done, done)
    return put
  }

  /** Resolves once the puts under way have settled. */
  async settled(): Promise<void> {
    while (this.puts.size > 0) await Promise.allSettled([...this.puts])
  }

  /**
   * The store refused a verified chunk: stop downloading (asking again would fetch the same
   * bytes again and again), cancel what is requested, and fail the fetch and waiting readers.
   * Serving what is held goes on.
   */
  fail(index: number, cause: Error): void {
    this.c.download.refuse(new StoreWriteError(this.swarm.key, index, cause))
  }

  private corrupt(session: PeerSession, index: number): void {
    this.stats.corruptChunks++
    this.c.totals.corruptChunks++
    // "A peer that sends a corrupt chunk is dropped and banned for a while; the chunk is fetched elsewhere."
    this.c.ban(session.peer, `corrupt chunk ${index}`)
    this.scheduler.schedule()
  }
}
