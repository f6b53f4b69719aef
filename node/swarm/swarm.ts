/**
 * One swarm per manifest (like a torrent): the sessions with peers that share it, what
 * each holds, what is in flight, and the scheduler that turns that into requests.
 * Every chunk is verified by the chunk store before it counts; a peer that sends a
 * corrupt one is banned and its requests go elsewhere.
 */
import type { CID } from 'multiformats/cid'
import type { Manifest } from '../content/index.ts'
import type { UploadGate } from '../limiter/index.ts'
import {
  MAX_PEERS_PER_SWARM,
  MAX_UNSOLICITED_CHUNKS,
  ORIGIN_FALLBACK_IDLE_MS,
  PEER_STALL_MS,
  SCHEDULER_TICK_MS,
  SWARM_WIRE_VERSION,
} from '../node-constants.ts'
import { Bitfield } from './bitfield.ts'
import type { ChunkBuffers } from './chunk-buffers.ts'
import { ChunkWaiters } from './chunk-waiters.ts'
import { type Frame, FrameType, type Hello } from './codec.ts'
import { ProtocolError, StoreWriteError } from './errors.ts'
import { worstReplaceable } from './peer-cap.ts'
import { pickChunks } from './picker.ts'
import { originChunks, playbackPriority, rankPeers, requestWindow } from './schedule-policy.ts'
import type { PeerSession, SessionOwner } from './session.ts'
import { SuperSeeder } from './super-seed.ts'
import type { FetchProgress, SwarmComponents, SwarmInit, SwarmStats } from './swarm-types.ts'
import type { WebSeed } from './web-seed.ts'

/** The state and scheduler of one manifest's swarm. */
export class Swarm implements SessionOwner {
  readonly cid: CID
  readonly key: string
  manifest?: Manifest
  have?: Bitfield
  availability = new Uint16Array(0)
  readonly sessions = new Map<string, PeerSession>()
  readonly stats: SwarmStats = {
    bytesFromPeers: 0,
    bytesFromOrigin: 0,
    bytesUploaded: 0,
    corruptChunks: 0,
    duplicateChunks: 0,
  }
  /**
   * Why downloading stopped, if it did: the store refused a verified chunk, or the content
   * is larger than the node's whole quota. Cleared when asked again (`want`, or a reader
   * waiting for a chunk).
   */
  failure?: Error
  /** Reads (playback) in progress: content being played is not evicted. */
  openReads = 0
  /** Set by the network: reach out to peers for this swarm. */
  onSeek?: () => void
  private sought = false
  /** Resolves with the manifest once it is set (from the store, a peer or the origin). */
  readonly manifestReady: PromiseWithResolvers<Manifest> = Promise.withResolvers<Manifest>()
  onProgress?: (p: FetchProgress) => void
  /** Called with the manifest bytes a peer sent when we asked. */
  onManifestBytes?: (bytes: Uint8Array, from: PeerSession) => void
  private readonly c: SwarmComponents
  private readonly init: SwarmInit
  private readonly buffers?: ChunkBuffers
  private readonly inflight = new Map<number, number>()
  /**
   * Requests waiting for the download bucket (key: peer and chunk): a request released
   * before it was sent gives its bytes back to the bucket.
   */
  private readonly bookings = new Map<string, AbortController>()
  private readonly originInflight = new Set<number>()
  /** Received chunks being verified and stored: neither missing nor held yet. */
  private readonly verifying = new Set<number>()
  /** Puts to the store under way (peers' and the origin's chunks; bounded by the request windows). */
  private readonly puts = new Set<Promise<void>>()
  /** Playback readers blocked on chunks. */
  private readonly readers = new ChunkWaiters()
  private completion = Swarm.deferred()
  private superSeeder?: SuperSeeder
  private scheduled = false
  private timer?: ReturnType<typeof setInterval>
  private lastPeerProgressAt = performance.now()
  private readonly abort = new AbortController()
  stopped = false
  /**
   * Whether to replicate every chunk (set by `fetch`). A swarm joined only by a playback
   * reader streams: it fetches what readers wait for, plus look-ahead, and nothing else.
   */
  replicate = false

  private static deferred(): PromiseWithResolvers<void> {
    const d = Promise.withResolvers<void>()
    d.promise.catch(() => {})
    return d
  }

  /**
   * Settles when every chunk is stored; rejects when the swarm stops or downloading fails
   * ({@link failure}). After a failure a new one stands for the next attempt.
   */
  get done(): PromiseWithResolvers<void> {
    return this.completion
  }

  constructor(cid: CID, components: SwarmComponents, init: SwarmInit = {}) {
    this.cid = cid
    this.key = cid.toString()
    this.c = components
    this.init = init
    this.buffers = components.chunkBuffers
    this.manifestReady.promise.catch(() => {})
    this.timer = setInterval(() => this.tick(), SCHEDULER_TICK_MS)
    this.timer.unref?.()
  }

  /** Our hello for this swarm. */
  hello(): Hello {
    return {
      v: SWARM_WIRE_VERSION,
      manifest: this.key,
      ...this.c.self,
      wantManifest: this.manifest === undefined,
    }
  }

  get complete(): boolean {
    return this.have?.complete === true
  }

  /** Whether it reaches out to peers: something here wants chunks (or the manifest) it lacks. */
  get seeking(): boolean {
    return this.sought && !this.complete && !this.stopped
  }

  /**
   * Whether it downloads for someone now: a fetch or a reader. A swarm only streamed once
   * and left partly held is not, nor one whose manifest is still looked up (capped on their
   * own, `MAX_MANIFEST_LOOKUPS`): neither counts against the node's limit on downloads at once.
   */
  get busy(): boolean {
    return this.seeking && (this.replicate || this.openReads > 0 || this.readers.size > 0)
  }

  /**
   * Something wants what this swarm lacks (a fetch, a reader, the manifest): the first call
   * reaches out to peers; peers connecting later are reached as they come.
   */
  seek(): void {
    if (this.sought || this.complete || this.stopped) return
    this.sought = true
    this.onSeek?.()
  }

  /** Sets the verified manifest, marks what the store already holds (resume) and starts scheduling. */
  async setManifest(manifest: Manifest): Promise<void> {
    if (this.manifest !== undefined) return
    const have = new Bitfield(manifest.chunks.length)
    for (let i = 0; i < manifest.chunks.length; i++)
      if (await this.c.store.has(manifest.chunks[i])) have.set(i)
    if (this.manifest !== undefined || this.stopped) return
    this.manifest = manifest
    this.manifestReady.resolve(manifest)
    this.have = have
    this.availability = new Uint16Array(manifest.chunks.length)
    if (this.init.superSeed === true) {
      this.superSeeder = new SuperSeeder({
        size: have.size,
        availability: this.availability,
        sessions: { [Symbol.iterator]: () => this.sessions.values() },
      })
    }
    for (const s of this.sessions.values()) this.greet(s)
    this.lastPeerProgressAt = performance.now()
    if (have.complete) this.settle()
    // chunks to receive: have the store's own receive buffers ready before the first arrives
    else this.buffers?.prepare(manifest.chunkSize)
    this.schedule()
  }

  /** Adds a session whose hello checked out; resolves duplicate streams between the same two peers. */
  addSession(session: PeerSession, local: string): boolean {
    if (this.stopped) return false
    const existing = this.sessions.get(session.peer)
    if (existing !== undefined && !existing.closed) {
      // both sides keep the stream dialled by the smaller peer id, so they agree without talking
      const dialer = (s: PeerSession): string => (s.stream.direction === 'outbound' ? local : s.peer)
      if (dialer(session) >= dialer(existing)) return false
      existing.close()
    }
    if (this.sessions.size >= this.maxPeers && !this.sessions.has(session.peer)) {
      if (!this.replaceWorst()) return false
    }
    this.sessions.set(session.peer, session)
    if (session.hello?.wantManifest === true && this.manifest !== undefined)
      session.sendManifest(this.manifest.bytes)
    if (this.manifest !== undefined) this.greet(session)
    return true
  }

  /** Starts replicating every chunk (what `fetch` asks for). */
  want(): void {
    this.failure = undefined
    this.replicate = true
    this.seek()
    this.schedule()
  }

  /** Waits until chunk `index` is stored, asking for it (and the next few) before anything else. */
  async waitForChunk(index: number, options: { signal?: AbortSignal } = {}): Promise<void> {
    if (this.have?.has(index) === true) return
    // a reader asking again after a failure is a new attempt
    this.failure = undefined
    this.seek()
    this.schedule()
    await this.readers.wait(index, () => this.have?.has(index) === true, [options.signal, this.abort.signal])
  }

  /**
   * Resolves once the puts under way have settled. After {@link stop} no more begin, so
   * whoever deletes the content (an eviction) finds every chunk they stored.
   */
  async putsSettled(): Promise<void> {
    while (this.puts.size > 0) await Promise.allSettled([...this.puts])
  }

  /**
   * A chunk no longer in the store (deleted under this swarm): marked missing, so a reader
   * asking for it waits for it to be fetched again.
   */
  lost(index: number): void {
    const have = this.have
    if (have?.has(index) !== true) return
    const wasComplete = have.complete
    have.clear(index)
    if (this.stopped) return
    if (wasComplete) {
      // settled already: the next fetch waits for the chunk again, and the timer ticks again
      this.completion = Swarm.deferred()
      clearInterval(this.timer)
      this.timer = setInterval(() => this.tick(), SCHEDULER_TICK_MS)
      this.timer.unref?.()
    }
    this.schedule()
  }

  /** Progress now. */
  progress(): FetchProgress {
    const m = this.manifest
    const total = m?.chunks.length ?? 0
    const done = this.have?.cardinality ?? 0
    let bytesDone = 0
    if (m !== undefined && this.have !== undefined) {
      bytesDone = done * m.chunkSize
      if (this.have.has(total - 1)) bytesDone -= m.chunkSize - this.chunkLength(total - 1)
    }
    return {
      manifestCid: this.key,
      chunksDone: done,
      chunksTotal: total,
      bytesDone,
      bytesTotal: m?.size ?? 0,
      bytesFromPeers: this.stats.bytesFromPeers,
      bytesFromOrigin: this.stats.bytesFromOrigin,
    }
  }

  stop(): void {
    if (this.stopped) return
    this.stopped = true
    clearInterval(this.timer)
    this.abort.abort(new ProtocolError('swarm stopped'))
    for (const b of this.bookings.values()) b.abort(this.abort.signal.reason)
    this.bookings.clear()
    for (const s of [...this.sessions.values()]) s.close()
    this.done.reject(this.abort.signal.reason)
    this.manifestReady.reject(this.abort.signal.reason)
  }

  onFrame(session: PeerSession, frame: Frame): void {
    switch (frame.type) {
      case FrameType.Manifest:
        // "every frame size-limited", and a manifest only when asked for, once: each is
        // hashed (and, if it matches, decoded and verified) on the event loop
        if (!session.askedManifest || session.sentManifest) throw new ProtocolError('unsolicited manifest')
        session.sentManifest = true
        if (this.manifest === undefined) this.onManifestBytes?.(frame.bytes, session)
        return
      case FrameType.Bitfield:
        if (session.bits !== undefined || session.pendingBits !== undefined)
          throw new ProtocolError('second bitfield')
        if (this.manifest === undefined) session.pendingBits = frame.bits
        else this.applyBits(session, frame.bits)
        return
      case FrameType.Have:
        if (this.manifest === undefined) {
          if (session.pendingHaves.length < 1024) session.pendingHaves.push(frame.index)
          return
        }
        session.bits ??= new Bitfield(this.availability.length)
        if (session.bits.set(frame.index)) this.availability[frame.index]++
        // only a chunk we still miss can lead to a new request
        if (this.have?.has(frame.index) === false) this.schedule()
        return
      case FrameType.DontHave:
        this.release(session, frame.index)
        if (session.bits?.has(frame.index) === true) {
          session.bits.clear(frame.index)
          this.availability[frame.index]--
        }
        session.score -= 1
        session.snubbedUntil = performance.now() + 1000
        this.schedule()
        return
      case FrameType.Chunk:
        this.receive(session, frame.index, frame.bytes)
          .catch((err: Error) => this.c.log.error('storing chunk failed: %e', err))
          // stored (or refused): the store holds no reference to a shared buffer once its put settled
          .finally(() => this.buffers?.give(frame.bytes))
        return
    }
  }

  onClose(session: PeerSession): void {
    if (this.sessions.get(session.peer) === session) this.sessions.delete(session.peer)
    for (const i of [...session.outstanding.keys()]) this.release(session, i)
    if (session.bits !== undefined) {
      for (let i = 0; i < session.bits.size; i++) if (session.bits.has(i)) this.availability[i]--
    }
    this.superSeeder?.closed(session)
    this.schedule()
  }

  /** The node's upload slots (granted rarest chunk first). */
  get uploads(): UploadGate {
    return this.c.limiter.uploads
  }

  rarity(index: number): number {
    return this.availability[index] ?? 0
  }

  /**
   * A chunk frame's header: "CHUNK" answers one of our REQUESTs. A chunk we did not ask this
   * peer for is skipped unread, never given a buffer (before, any chunk of a valid size was
   * copied into one and dropped as a duplicate, so a peer could make us allocate and copy
   * for free). One we withdrew lately (endgame, a stall, a failure) may have been on its
   * way: skipped, no fault. Anything else scores the peer down, and past
   * {@link MAX_UNSOLICITED_CHUNKS} on a stream is an offense.
   */
  admitChunk(session: PeerSession, index: number): boolean {
    const m = this.manifest
    // no request can be out before the manifest is known
    if (m === undefined) throw new ProtocolError('chunk before the manifest')
    // an offense on the header: thrown in `receive` (async) it was only logged, and the stream stayed open
    if (index >= m.chunks.length) throw new ProtocolError(`chunk ${index} of ${m.chunks.length}`)
    if (session.outstanding.has(index)) return true
    if (session.takeWithdrawn(index)) {
      this.stats.duplicateChunks++
      return false
    }
    session.score -= 1
    if (++session.unsolicitedChunks > MAX_UNSOLICITED_CHUNKS)
      throw new ProtocolError(`${session.unsolicitedChunks} chunks sent unasked`)
    this.c.log('peer %s sent chunk %d unasked in %s', session.peer, index, this.key)
    return false
  }

  chunkBuffer(size: number): Uint8Array {
    // unshared memory needs no zeroing: the decoder fills every byte before anyone reads it
    return this.buffers?.take(size) ?? Buffer.allocUnsafeSlow(size)
  }

  async serve(session: PeerSession, index: number, signal: AbortSignal): Promise<boolean> {
    const m = this.manifest
    if (m === undefined || index >= m.chunks.length || this.have?.has(index) !== true) return false
    if (this.superSeeder !== undefined && !this.superSeeder.mayServe(session, index)) return false
    const length = this.chunkLength(index)
    await this.c.limiter.upload.take(length, { signal })
    let bytes: Uint8Array
    try {
      bytes = await this.c.store.get(m.chunks[index], { signal })
    } catch (err) {
      // gone from the store (it rotted on disk and was dropped, or was evicted): stop
      // counting it as held, so that a fetch or a reader brings it back
      if ((err as Error).name === 'ChunkNotFoundError') this.lost(index)
      return false
    }
    await session.sendChunk(index, bytes)
    this.stats.bytesUploaded += length
    this.c.totals.bytesUploaded += length
    this.superSeeder?.sent(session, index)
    return true
  }

  private greet(session: PeerSession): void {
    const m = this.manifest!
    session.setChunkLimit(m.chunkSize)
    // a super-seeder advertises nothing and offers chunks one by one instead
    session.sendBitfield(
      this.superSeeder === undefined ? this.have!.bytes : new Uint8Array(this.have!.bytes.byteLength),
    )
    if (session.pendingBits !== undefined) {
      const bits = session.pendingBits
      session.pendingBits = undefined
      try {
        this.applyBits(session, bits)
      } catch (err) {
        // a bitfield sent before the manifest was known, of the wrong length: that peer broke
        // the protocol; the others are greeted all the same
        session.offend(err as Error)
        return
      }
    }
    for (const i of session.pendingHaves.splice(0)) {
      session.bits ??= new Bitfield(this.availability.length)
      if (i < session.bits.size && session.bits.set(i)) this.availability[i]++
    }
    this.superSeeder?.offer(session)
    this.schedule()
  }

  private applyBits(session: PeerSession, raw: Uint8Array): void {
    const bits = new Bitfield(this.availability.length, raw)
    const previous = session.bits
    session.bits = bits
    for (let i = 0; i < bits.size; i++) {
      if (previous?.has(i) === true) bits.set(i)
      else if (bits.has(i)) this.availability[i]++
    }
    this.schedule()
  }

  private async receive(session: PeerSession, index: number, bytes: Uint8Array): Promise<void> {
    const m = this.manifest
    // refused on the frame's header already (`admitChunk`)
    if (m === undefined || index >= m.chunks.length) throw new ProtocolError('chunk for an unknown index')
    if (!session.outstanding.has(index)) {
      // withdrawn while its bytes were arriving: this was the copy on its way
      session.takeWithdrawn(index)
      this.stats.duplicateChunks++
      return
    }
    this.release(session, index)
    session.lastDeliveryAt = performance.now()
    session.lastExchangeAt = session.lastDeliveryAt
    session.deliveredBytes += bytes.byteLength
    if (this.have!.has(index)) {
      this.stats.duplicateChunks++
      return
    }
    if (this.verifying.has(index)) {
      this.stats.duplicateChunks++
      return
    }
    const length = bytes.byteLength
    if (length !== this.chunkLength(index)) return this.corrupt(session, index)
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
    this.lastPeerProgressAt = performance.now()
    this.stats.bytesFromPeers += length
    this.c.totals.bytesFromPeers += length
    this.markHave(index)
  }

  /**
   * The store refused a verified chunk: stop downloading (asking again would fetch the same
   * bytes again and again), cancel what is requested, and fail the fetch and waiting readers.
   * Serving what is held goes on.
   */
  private fail(index: number, cause: Error): void {
    this.refuse(new StoreWriteError(this.key, index, cause))
  }

  /**
   * The download cannot go on (the store refused a chunk, or the content is larger than
   * the node's whole quota): stop it and fail the fetch and waiting readers with `err`,
   * which status reports. The next fetch or read tries again.
   */
  refuse(err: Error): void {
    if (this.stopped || this.failure !== undefined) return
    this.failure = err
    this.replicate = false
    this.c.log.error('%s', err.message)
    for (const s of this.sessions.values()) for (const i of [...s.outstanding.keys()]) this.withdraw(s, i)
    const completion = this.completion
    this.completion = Swarm.deferred()
    completion.reject(err)
    this.readers.failAll(err)
  }

  /** Everything is held: the fetch resolves; only a super-seeder still needs the timer. */
  private settle(): void {
    if (this.superSeeder === undefined) clearInterval(this.timer)
    this.done.resolve()
  }

  private corrupt(session: PeerSession, index: number): void {
    this.stats.corruptChunks++
    this.c.totals.corruptChunks++
    // "A peer that sends a corrupt chunk is dropped and banned for a while; the chunk is fetched elsewhere."
    this.c.ban(session.peer, `corrupt chunk ${index}`)
    this.schedule()
  }

  private markHave(index: number): void {
    if (!this.have!.set(index)) return
    for (const s of this.sessions.values()) {
      // endgame: the other copies requested are cancelled (one may be on its way already)
      if (s.outstanding.has(index)) this.withdraw(s, index)
      s.sendIndex(FrameType.Have, index)
    }
    this.readers.stored(index)
    this.onProgress?.(this.progress())
    if (this.have!.complete) {
      this.c.log('swarm %s complete', this.key)
      this.settle()
    }
    this.schedule()
  }

  /** Cancels our request for chunk `index` from `session`; the chunk may still arrive, without fault. */
  private withdraw(session: PeerSession, index: number): void {
    session.sendIndex(FrameType.Cancel, index)
    this.release(session, index)
    session.withdrew(index)
  }

  private release(session: PeerSession, index: number): void {
    if (!session.outstanding.delete(index)) return
    // not sent yet: its bytes go back to the download bucket
    const key = `${session.peer} ${index}`
    this.bookings.get(key)?.abort(new ProtocolError('request released'))
    this.bookings.delete(key)
    const n = (this.inflight.get(index) ?? 1) - 1
    if (n <= 0) this.inflight.delete(index)
    else this.inflight.set(index, n)
  }

  private put(cid: CID, bytes: Uint8Array, options: { signal?: AbortSignal } = {}): Promise<void> {
    const put = this.c.store.put(cid, bytes, options)
    this.puts.add(put)
    const done = (): void => {
      this.puts.delete(put)
    }
    put.then(done, done)
    return put
  }

  private chunkLength(index: number): number {
    const m = this.manifest!
    return index === m.chunks.length - 1 ? m.size - index * m.chunkSize : m.chunkSize
  }

  /** Coalesces scheduling into one pass per turn of the event loop. */
  private schedule(): void {
    if (this.scheduled || this.stopped) return
    this.scheduled = true
    // after this round of I/O: every frame that arrived together is handled by one pass
    setImmediate(() => {
      this.scheduled = false
      this.runScheduler()
    })
  }

  private priorityList(): number[] {
    return this.readers.size === 0 ? [] : playbackPriority(this.readers.blockedOn(), this.have!)
  }

  private runScheduler(): void {
    const have = this.have
    if (have === undefined || have.complete || this.stopped || this.failure !== undefined) return
    const { chunkSize } = this.manifest!
    let missingIdle = 0
    for (let i = 0; i < have.size; i++) {
      if (!have.has(i) && !this.inflight.has(i) && !this.originInflight.has(i) && !this.verifying.has(i))
        missingIdle++
    }
    const state = {
      have,
      availability: this.availability,
      inflight: this.inflight,
      originInflight: this.originInflight,
      verifying: this.verifying,
      replicate: this.replicate,
      priority: this.priorityList(),
      missingIdle,
    }
    const now = performance.now()
    const ranked = rankPeers(this.sessions.values(), this.c.self)
    // a reader blocked on a chunk jumps the queue: ask the fastest peer holding it, whatever its window
    for (const pos of this.readers.blockedOn()) {
      if (have.has(pos) || this.inflight.has(pos) || this.verifying.has(pos) || this.originInflight.has(pos))
        continue
      let best: PeerSession | undefined
      for (const s of ranked) {
        if (s.closed || s.bits?.has(pos) !== true) continue
        if (best === undefined || s.rateBytesPerSecond > best.rateBytesPerSecond) best = s
      }
      if (best !== undefined) {
        if (this.request(best, pos, now)) state.missingIdle--
      }
    }
    for (const s of ranked) {
      if (s.closed || s.snubbedUntil > now || s.bits === undefined) continue
      const window = requestWindow(s.rateBytesPerSecond, chunkSize)
      for (const i of pickChunks(state, s, window - s.outstanding.size)) {
        if (this.request(s, i, now)) state.missingIdle--
      }
    }
  }

  /** Records and sends (once the download bucket allows) a request; returns whether the chunk was idle before. */
  private request(s: PeerSession, i: number, now: number): boolean {
    if (s.outstanding.size === 0) s.lastDeliveryAt = now
    s.outstanding.set(i, now)
    const wasIdle = !this.inflight.has(i)
    this.inflight.set(i, (this.inflight.get(i) ?? 0) + 1)
    const key = `${s.peer} ${i}`
    const booking = new AbortController()
    this.bookings.set(key, booking)
    this.c.limiter.download
      .take(this.chunkLength(i), { signal: booking.signal })
      .then(() => {
        if (s.outstanding.has(i)) s.sendIndex(FrameType.Request, i)
      })
      .catch(() => {})
      .finally(() => {
        if (this.bookings.get(key) === booking) this.bookings.delete(key)
      })
    return wasIdle
  }

  /** How long a peer holding requests may deliver nothing before it is stalled. */
  private get stallMs(): number {
    return this.init.peerStallMs ?? PEER_STALL_MS
  }

  /** Peers this swarm keeps at most. */
  get maxPeers(): number {
    return this.init.maxPeers ?? MAX_PEERS_PER_SWARM
  }

  /**
   * Whether a session with one more peer would be kept: below the cap, or a peer in it
   * could be replaced (`peer-cap.ts`).
   */
  wantsPeer(): boolean {
    if (this.sessions.size < this.maxPeers) return true
    return this.worstReplaceable() !== undefined
  }

  /** The peer a newcomer would replace, if any (`peer-cap.ts`). */
  private worstReplaceable(): PeerSession | undefined {
    return worstReplaceable(this.sessions.values(), {
      downloading: this.seeking,
      have: this.have,
      availability: this.availability,
      graceMs: this.stallMs,
      now: performance.now(),
    })
  }

  private replaceWorst(): boolean {
    const worst = this.worstReplaceable()
    if (worst === undefined) return false
    this.c.log(
      'replacing peer %s in %s (score %d, %d B/s)',
      worst.peer,
      this.key,
      worst.score,
      worst.rateBytesPerSecond,
    )
    worst.close()
    return true
  }

  private tick(): void {
    if (this.stopped || this.have === undefined) return
    const now = performance.now()
    for (const s of this.sessions.values()) s.updateRate(now)
    const stallMs = this.stallMs
    for (const s of this.sessions.values()) {
      // "per-peer timeouts": a peer that holds our requests and delivers nothing is stalled
      if (s.outstanding.size > 0 && now - s.lastDeliveryAt > stallMs) {
        this.c.log('peer %s stalled in %s', s.peer, this.key)
        for (const i of [...s.outstanding.keys()]) this.withdraw(s, i)
        s.score -= 5
        s.snubbedUntil = now + stallMs
      }
    }
    this.superSeeder?.offerAll()
    this.fallBackToOrigin(now)
    this.schedule()
  }

  private fallBackToOrigin(now: number): void {
    const web = this.c.webSeed
    // a failing origin is left alone until its backoff ends (the next tick looks again)
    if (web === undefined || this.complete || this.failure !== undefined || !web.available) return
    const peersQuietFor = now - this.lastPeerProgressAt
    const idleMs = this.init.fallbackIdleMs ?? ORIGIN_FALLBACK_IDLE_MS
    if (peersQuietFor < idleMs && this.readers.size === 0) return
    const chunks = originChunks(
      {
        have: this.have!,
        availability: this.availability,
        inflight: this.inflight,
        originInflight: this.originInflight,
        verifying: this.verifying,
        priority: this.priorityList(),
        peersIdle: this.replicate && peersQuietFor >= idleMs,
      },
      Math.floor(Math.random() * this.have!.size),
    )
    for (const i of chunks) this.fetchFromOrigin(web, i)
  }

  private fetchFromOrigin(web: WebSeed, index: number): void {
    const m = this.manifest!
    this.originInflight.add(index)
    const length = this.chunkLength(index)
    web
      .chunk(m.chunks[index], length, { signal: this.abort.signal })
      .then(async (bytes) => {
        if (this.have!.has(index)) return
        try {
          await this.put(m.chunks[index], bytes, { signal: this.abort.signal })
        } catch (err) {
          if ((err as Error).name === 'ChunkHashMismatchError') {
            this.stats.corruptChunks++
            this.c.totals.corruptChunks++
            web.verified(false)
            throw err
          }
          this.fail(index, err as Error)
          return
        }
        web.verified(true)
        this.stats.bytesFromOrigin += length
        this.c.totals.bytesFromOrigin += length
        this.markHave(index)
      })
      .catch((err: Error) => {
        if (!this.stopped) this.c.log('origin fetch of chunk %d failed: %s', index, err.message)
      })
      .finally(() => {
        this.originInflight.delete(index)
        if (!this.stopped) this.fallBackToOrigin(performance.now())
      })
  }
}
