/**
 * One peer in one swarm: a single `/dandelion/swarm/1.0.0` stream carrying hello,
 * bitfield, HAVE, REQUEST / CANCEL / DONT_HAVE and CHUNK frames in both directions.
 * The session owns the wire; the {@link Swarm} decides what to request and serve. Its
 * parts sit beside it: `peer-state.ts` (what the swarm keeps about the peer, which the
 * session extends), `frame-writer.ts` (the sending half of the stream) and
 * `upload-queue.ts` (the peer's requests waiting for upload slots).
 */
import type { Connection, Logger, Stream } from '@libp2p/interface'
import { MAX_MANIFEST_BYTES } from '../constants.ts'
import type { UploadGate } from '../limiter/index.ts'
import { HELLO_TIMEOUT_MS, SWARM_WIRE_VERSION } from '../node-constants.ts'
import {
  encodeBytes,
  encodeHello,
  encodeIndex,
  type Frame,
  FrameDecoder,
  FrameType,
  type Hello,
} from './codec.ts'
import { ProtocolError } from './errors.ts'
import { FrameWriter } from './frame-writer.ts'
import { PeerState } from './peer-state.ts'
import { UploadQueue } from './upload-queue.ts'

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
export class PeerSession extends PeerState {
  readonly stream: Stream
  readonly connection: Connection
  readonly peer: string
  readonly log: Logger
  /** The peer's hello, once received. */
  hello?: Hello
  closed = false
  /** Our hello asked the peer for the manifest. */
  askedManifest = false
  /** The peer sent a manifest (at most one is accepted, and only when asked for). */
  sentManifest = false
  /** Called when the peer breaks the protocol on this stream (set by the network). */
  onOffense?: (reason: string) => void
  private readonly helloTimeoutMs: number
  private helloTimer?: ReturnType<typeof setTimeout>
  private readonly decoder: FrameDecoder
  /** The swarm this session belongs to (set after an inbound hello names it). */
  owner: SessionOwner
  /** The sending half of the stream: control frames batched, chunks written with flow control. */
  readonly writer: FrameWriter
  private readonly uploadQueue: UploadQueue
  private readonly abort = new AbortController()

  constructor(
    stream: Stream,
    connection: Connection,
    owner: SessionOwner,
    log: Logger,
    init: PeerSessionInit = {},
  ) {
    super()
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
    const signal = this.abort.signal
    this.writer = new FrameWriter({ stream, session: this, signal, limits: this.decoder.limits })
    this.uploadQueue = new UploadQueue({ session: this, writer: this.writer, signal })
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
      this.uploadQueue.add(frame.index)
      return
    }
    if (frame.type === FrameType.Cancel) {
      this.uploadQueue.cancel(frame.index)
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

  /** Sets the largest chunk the decoder accepts (known once the manifest is). */
  setChunkLimit(bytes: number): void {
    this.decoder.limits.maxChunkBytes = bytes
  }

  sendHello(hello: Hello): void {
    this.askedManifest = hello.wantManifest === true
    if (this.askedManifest) this.decoder.limits.maxManifestBytes = MAX_MANIFEST_BYTES
    this.writer.send(encodeHello(hello))
  }

  sendBitfield(bits: Uint8Array): void {
    this.writer.send(encodeBytes(FrameType.Bitfield, bits))
  }

  sendManifest(bytes: Uint8Array): void {
    this.writer.send(encodeBytes(FrameType.Manifest, bytes))
  }

  sendIndex(
    type:
      | typeof FrameType.Have
      | typeof FrameType.Request
      | typeof FrameType.Cancel
      | typeof FrameType.DontHave,
    index: number,
  ): void {
    this.writer.send(encodeIndex(type, index))
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
    return this.uploadQueue.queued
  }

  /** Requests of the peer being served now. */
  get servingUploads(): number {
    return this.uploadQueue.servingNow
  }

  private shutdown(): void {
    if (this.closed) return
    this.closed = true
    clearTimeout(this.helloTimer)
    this.uploadQueue.clear()
    this.abort.abort(new ProtocolError('session closed'))
    this.owner.onClose(this)
  }
}
