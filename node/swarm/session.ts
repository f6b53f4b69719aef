/**
 * One peer in one swarm: a single `/dandelion/swarm/1.0.0` stream carrying hello,
 * bitfield, HAVE, REQUEST / CANCEL / DONT_HAVE and CHUNK frames in both directions.
 * The session owns the wire; the {@link Swarm} decides what to request and serve.
 */
import type { Connection, Logger, Stream } from '@libp2p/interface'
import { MAX_MANIFEST_BYTES } from '../constants.ts'
import type { UploadGate } from '../limiter/index.ts'
import {
  DRAIN_WAIT_MS,
  HELLO_TIMEOUT_MS,
  MAX_QUEUED_REQUESTS_PER_PEER,
  RECENT_CANCELS_PER_PEER,
  SERVE_CONCURRENCY,
  SWARM_WIRE_VERSION,
} from '../node-constants.ts'
import type { Bitfield } from './bitfield.ts'
import {
  encodeBytes,
  encodeChunk,
  encodeHello,
  encodeIndex,
  type Frame,
  FrameDecoder,
  FrameType,
  type Hello,
} from './codec.ts'
import { ProtocolError } from './errors.ts'

/** What a session asks of its swarm. */
export interface SessionOwner {
  /** Called once per frame after the hello; may be async, errors close the session. */
  onFrame(session: PeerSession, frame: Frame): void
  onClose(session: PeerSession): void
  /** How many peers hold a chunk (lower is served first). */
  rarity(index: number): number
  /** The node's upload slots. */
  readonly uploads: UploadGate
  /** Serves one queued request: resolves when the chunk has been handed to the stream, or false to refuse. */
  serve(session: PeerSession, index: number, signal: AbortSignal): Promise<boolean>
  /**
   * Whether to receive chunk `index`, asked on its frame's header, before any buffer is
   * taken for it: false skips its bytes unbuffered; throwing refuses the frame (an offense).
   */
  admitChunk(session: PeerSession, index: number): boolean
  /** A buffer of `size` bytes for a chunk being received; handed back with the chunk frame. */
  chunkBuffer?(size: number): Uint8Array
}

/** Options of a {@link PeerSession}. */
export interface PeerSessionInit {
  /**
   * A stream with no whole hello from the peer after this long is closed.
   * @default HELLO_TIMEOUT_MS
   */
  helloTimeoutMs?: number
}

/** The state of one peer inside one swarm. */
export class PeerSession {
  readonly stream: Stream
  readonly connection: Connection
  readonly peer: string
  readonly log: Logger
  /** The peer's hello, once received. */
  hello?: Hello
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
  closed = false
  /** Our hello asked the peer for the manifest. */
  askedManifest = false
  /** The peer sent a manifest (at most one is accepted, and only when asked for). */
  sentManifest = false
  /** Called when the peer breaks the protocol on this stream (set by the network). */
  onOffense?: (reason: string) => void
  /** Chunks the peer sent that we had not asked it for (nor withdrawn lately). */
  unsolicitedChunks = 0
  /**
   * Requests we withdrew from the peer lately (cancelled, or released on a stall or a
   * failure), oldest first, at most {@link RECENT_CANCELS_PER_PEER}: the chunk may have
   * been on its way already, and arrives without fault.
   */
  private readonly withdrawn = new Set<number>()
  private readonly helloTimeoutMs: number
  private helloTimer?: ReturnType<typeof setTimeout>
  private readonly decoder: FrameDecoder
  /** The swarm this session belongs to (set after an inbound hello names it). */
  owner: SessionOwner
  private readonly uploadQueue: number[] = []
  private readonly abort = new AbortController()
  private serving = 0
  private waitingSlot = false
  /** Waiting for the peer to read what it was sent before asking for another slot. */
  private waitingRoom = false
  private pendingControl: Uint8Array[] = []
  private pendingControlBytes = 0

  constructor(
    stream: Stream,
    connection: Connection,
    owner: SessionOwner,
    log: Logger,
    init: PeerSessionInit = {},
  ) {
    this.stream = stream
    this.connection = connection
    this.peer = connection.remotePeer.toString()
    this.owner = owner
    this.log = log
    this.helloTimeoutMs = init.helloTimeoutMs ?? HELLO_TIMEOUT_MS
    // "a manifest only when asked for, once": no manifest frame is buffered before our
    // hello asks for one (`sendHello`), so a peer cannot make every stream it opens hold
    // 8 MiB of a frame that is refused once complete
    this.decoder = new FrameDecoder({ maxChunkBytes: 0, maxManifestBytes: 0 }, (size, index) => {
      if (this.closed || !this.owner.admitChunk(this, index)) return undefined
      return this.owner.chunkBuffer?.(size) ?? new Uint8Array(size)
    })
    this.decoder.helloFirst = true
  }

  /** Starts reading. Frames before `hello` is set are passed to `onHello`. */
  attach(onHello?: (hello: Hello) => void): void {
    this.stream.addEventListener('message', (evt) => {
      if (this.closed) return
      try {
        // each frame is acted on before the next is parsed (`FrameDecoder.feed`)
        this.decoder.feed(evt.data, (frame) => this.handle(frame, onHello))
      } catch (err) {
        this.offend(err as Error)
      }
    })
    // "The dialer sends HELLO; the listener answers HELLO": a stream still without one after
    // the deadline is closed, so streams that never say hello do not each hold a session
    // (and up to 4 KiB of a hello) for as long as the connection lasts
    this.helloTimer = setTimeout(() => this.helloOverdue(), this.helloTimeoutMs)
    this.helloTimer.unref?.()
    this.stream.addEventListener(
      'close',
      (evt) => {
        if (!this.closed)
          this.log('swarm stream with %s closed: %s', this.peer, evt.error?.message ?? 'by the peer')
        this.shutdown()
      },
      { once: true },
    )
    // the peer closed its side (it left the swarm, e.g. evicted the lesson): nothing more
    // can come, so close ours too. Left half-open, the session looked alive for as long as
    // the connection lasted, and the peer's next stream for this swarm was refused as a
    // duplicate of it.
    this.stream.addEventListener(
      'remoteCloseWrite',
      () => {
        if (this.closed) return
        this.log('swarm stream with %s closed by the peer', this.peer)
        this.close()
      },
      { once: true },
    )
  }

  /** Acts on one frame from the peer (before the next one is parsed). */
  private handle(frame: Frame, onHello?: (hello: Hello) => void): void {
    if (this.closed) return
    if (this.hello === undefined) {
      if (frame.type !== FrameType.Hello) this.offend(new ProtocolError('first frame must be a hello'))
      else this.greeted(frame.hello, onHello)
      return
    }
    if (frame.type === FrameType.Hello) {
      this.offend(new ProtocolError('second hello'))
      return
    }
    // one manifest at most: a second one is refused on its header
    if (frame.type === FrameType.Manifest) this.decoder.limits.maxManifestBytes = 0
    if (frame.type === FrameType.Request) {
      this.lastExchangeAt = performance.now()
      this.enqueueRequest(frame.index)
      return
    }
    if (frame.type === FrameType.Cancel) {
      const at = this.uploadQueue.indexOf(frame.index)
      if (at >= 0) this.uploadQueue.splice(at, 1)
      return
    }
    try {
      this.owner.onFrame(this, frame)
    } catch (err) {
      this.offend(err as Error)
    }
  }

  /** The peer's hello: in time, whatever it says. */
  private greeted(hello: Hello, onHello?: (hello: Hello) => void): void {
    clearTimeout(this.helloTimer)
    if (hello.v !== SWARM_WIRE_VERSION) {
      this.fail(new ProtocolError(`wire version ${hello.v}`))
      return
    }
    this.hello = hello
    try {
      onHello?.(hello)
    } catch (err) {
      this.fail(err as Error)
    }
  }

  /**
   * No whole hello within the deadline. Half a hello held that long is an offense: an honest
   * peer writes its hello in one piece, so that peer is holding our buffer on purpose. A
   * stream that sent nothing is only closed: an honest peer whose event loop or link stalled
   * would be banned across every swarm if it counted (a node seeking many lessons opens a
   * stream per lesson, so three would expire together), and an empty stream costs us little
   * for the deadline it lasts.
   */
  private helloOverdue(): void {
    if (this.closed || this.hello !== undefined) return
    const err = new ProtocolError(`no hello within ${this.helloTimeoutMs} ms`)
    if (this.decoder.pending > 0) this.offend(err)
    else this.fail(err)
  }

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

  /** Sets the largest chunk the decoder accepts (known once the manifest is). */
  setChunkLimit(bytes: number): void {
    this.decoder.limits.maxChunkBytes = bytes
  }

  sendHello(hello: Hello): void {
    this.askedManifest = hello.wantManifest === true
    if (this.askedManifest) this.decoder.limits.maxManifestBytes = MAX_MANIFEST_BYTES
    this.send(encodeHello(hello))
  }

  sendBitfield(bits: Uint8Array): void {
    this.send(encodeBytes(FrameType.Bitfield, bits))
  }

  sendManifest(bytes: Uint8Array): void {
    this.send(encodeBytes(FrameType.Manifest, bytes))
  }

  sendIndex(
    type:
      | typeof FrameType.Have
      | typeof FrameType.Request
      | typeof FrameType.Cancel
      | typeof FrameType.DontHave,
    index: number,
  ): void {
    this.send(encodeIndex(type, index))
  }

  /** Sends a chunk, waiting for the stream to drain first if it asked us to. */
  async sendChunk(index: number, bytes: Uint8Array): Promise<void> {
    // A chunk's worth still unread: the peer is not reading (or is far behind). Its chunk is
    // queued at once and the caller's upload slot not held for the waits below, which would
    // only delay the same write; the stream gets no further slot until it takes what it has
    // (`pump`), so what it holds stays within a chunk plus one round of serves.
    if (this.backlogged) {
      this.flush()
      this.write(encodeChunk(index, bytes))
      return
    }
    // Wait for the stream to drain, but only briefly: a drain that never comes (a peer that
    // stops reading, or a muxer drain that does not reach this stream, seen under load) must
    // not hold one of the node's upload slots for ever. Writing anyway is bounded by the
    // peer's own request window, and its stall detection cancels what it no longer wants.
    if (this.stream.writableNeedsDrain) {
      try {
        await this.stream.onDrain({
          signal: AbortSignal.any([this.abort.signal, AbortSignal.timeout(DRAIN_WAIT_MS)]),
        })
      } catch (err) {
        if (this.closed) throw err
        this.log('no drain from %s within %d ms, writing anyway', this.peer, DRAIN_WAIT_MS)
        // not reading for that long: waiting for the write buffer to empty too would hold
        // the slot another DRAIN_WAIT_MS for nothing (`pump` gives it no more until it reads)
        this.flush()
        this.write(encodeChunk(index, bytes))
        return
      }
    }
    this.flush()
    this.write(encodeChunk(index, bytes))
    // Bounded queues: the caller's upload slot is held until the chunk has left this
    // stream's write buffer, so the node's slots bound the chunk bytes it holds across
    // all peers (not slots × whatever each stream has queued). Bounded in time like the
    // drain above: a peer that stops reading does not keep the slot.
    await this.written()
  }

  /** Resolves once the stream's write buffer is empty, the stream closed, or {@link DRAIN_WAIT_MS} passed. */
  private async written(): Promise<void> {
    if (this.closed || this.stream.writeBufferLength === 0) return
    const { promise, resolve } = Promise.withResolvers<void>()
    const signal = AbortSignal.any([this.abort.signal, AbortSignal.timeout(DRAIN_WAIT_MS)])
    const done = (): void => resolve()
    this.stream.addEventListener('idle', done, { once: true })
    this.stream.addEventListener('close', done, { once: true })
    signal.addEventListener('abort', done, { once: true })
    try {
      await promise
    } finally {
      this.stream.removeEventListener('idle', done)
      this.stream.removeEventListener('close', done)
      signal.removeEventListener('abort', done)
    }
  }

  /**
   * The peer broke the protocol (a malformed, oversize or out-of-order frame, a request
   * flood): reported through {@link onOffense}, which scores the peer down across its
   * streams, then the stream is closed.
   */
  offend(err: Error): void {
    if (this.closed) return
    this.onOffense?.(err.message)
    this.fail(err)
  }

  /** Closes the stream because the peer broke the protocol (or was banned). */
  fail(err: Error): void {
    if (this.closed) return
    this.log('closing swarm stream with %s: %s', this.peer, err.stack)
    this.stream.abort(err)
    this.shutdown()
  }

  /** Closes the stream politely. */
  close(): void {
    if (this.closed) return
    this.stream.close().catch((err: Error) => this.stream.abort(err))
    this.shutdown()
  }

  /** Requests queued from the peer, not yet served. */
  get queuedUploads(): number {
    return this.uploadQueue.length
  }

  /** Requests of the peer being served now. */
  get servingUploads(): number {
    return this.serving
  }

  /**
   * Small control frames (HAVE, REQUEST, CANCEL...) are batched until the end of this
   * turn of the event loop: one muxer frame, one encryption and one socket write for many
   * of them instead of one each.
   */
  private send(data: Uint8Array): void {
    if (this.closed) return
    this.pendingControl.push(data)
    this.pendingControlBytes += data.byteLength
    if (this.pendingControl.length === 1) setImmediate(() => this.flush())
  }

  private flush(): void {
    if (this.pendingControl.length === 0) return
    const frames = this.pendingControl
    const length = this.pendingControlBytes
    this.pendingControl = []
    this.pendingControlBytes = 0
    if (frames.length === 1) this.write(frames[0])
    else {
      const out = new Uint8Array(length)
      let offset = 0
      for (const f of frames) {
        out.set(f, offset)
        offset += f.byteLength
      }
      this.write(out)
    }
  }

  private write(data: Parameters<Stream['send']>[0]): void {
    if (this.closed || this.stream.writeStatus !== 'writable') return
    try {
      this.stream.send(data)
    } catch (err) {
      this.fail(err as Error)
    }
  }

  private enqueueRequest(index: number): void {
    // "pipelined chunk requests with a per-peer window": a peer flooding requests past the bound is broken
    if (this.uploadQueue.length >= MAX_QUEUED_REQUESTS_PER_PEER) {
      this.offend(new ProtocolError(`more than ${MAX_QUEUED_REQUESTS_PER_PEER} requests queued`))
      return
    }
    this.uploadQueue.push(index)
    this.pump()
  }

  /**
   * Serves queued requests, a few at a time so a disk read overlaps the previous send.
   * Each needs one of the node's upload slots; the slot goes to the session whose next
   * chunk is rarest, and the chunk is chosen when the slot is granted, not before.
   */
  private pump(): void {
    if (
      this.closed ||
      this.waitingSlot ||
      this.waitingRoom ||
      this.serving >= SERVE_CONCURRENCY ||
      this.uploadQueue.length === 0
    )
      return
    // A peer that does not read what it asked for (its stream's write buffer holds a chunk
    // already) gets no slot until it does: before this, each of its requests held a slot
    // for the drain and write waits (about 2 s) and then left its chunk in the write buffer
    // anyway, so three such peers slowed an honest leecher's 8 MiB from 0.4 s to 44 s, and
    // the buffer grew without bound (a chunk per request) for as long as they kept asking.
    if (this.backlogged) {
      this.awaitRoom()
      return
    }
    this.waitingSlot = true
    const gate = this.owner.uploads
    gate
      .acquire(() => this.rarestQueued(), { signal: this.abort.signal })
      .then(() => {
        this.waitingSlot = false
        if (this.closed || this.uploadQueue.length === 0 || this.backlogged) {
          gate.release()
          this.pump()
          return
        }
        // serve the rarest requested chunk first: a chunk few peers hold yet spreads from here
        let at = 0
        for (let k = 1; k < this.uploadQueue.length; k++) {
          if (this.owner.rarity(this.uploadQueue[k]) < this.owner.rarity(this.uploadQueue[at])) at = k
        }
        const index = this.uploadQueue.splice(at, 1)[0]
        this.serving++
        this.owner
          .serve(this, index, this.abort.signal)
          .then((served) => {
            if (!served && !this.closed) this.sendIndex(FrameType.DontHave, index)
          })
          .catch((err: Error) => this.fail(err))
          .finally(() => {
            this.serving--
            gate.release()
            this.pump()
          })
        this.pump()
      })
      .catch(() => {
        this.waitingSlot = false
      })
  }

  /** A chunk's worth or more is still waiting in the stream's write buffer: the peer is not reading. */
  private get backlogged(): boolean {
    const queued = this.stream.writeBufferLength
    return queued > 0 && queued >= this.decoder.limits.maxChunkBytes
  }

  /**
   * Waits, holding no upload slot, until the stream takes more (a drain, an empty write
   * buffer) or closes, then serves again. Looked at again every {@link DRAIN_WAIT_MS}
   * too, so a drain event that never reaches this stream does not stop it for ever.
   */
  private awaitRoom(): void {
    if (this.waitingRoom) return
    this.waitingRoom = true
    const again = (): void => {
      clearTimeout(timer)
      this.stream.removeEventListener('drain', again)
      this.stream.removeEventListener('idle', again)
      this.stream.removeEventListener('close', again)
      this.waitingRoom = false
      this.pump()
    }
    const timer = setTimeout(again, DRAIN_WAIT_MS)
    this.stream.addEventListener('drain', again)
    this.stream.addEventListener('idle', again)
    this.stream.addEventListener('close', again)
  }

  private rarestQueued(): number {
    let min = Number.POSITIVE_INFINITY
    for (const i of this.uploadQueue) min = Math.min(min, this.owner.rarity(i))
    return min
  }

  private shutdown(): void {
    if (this.closed) return
    this.closed = true
    clearTimeout(this.helloTimer)
    this.uploadQueue.length = 0
    this.abort.abort(new ProtocolError('session closed'))
    this.owner.onClose(this)
  }
}
