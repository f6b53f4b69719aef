/**
 * The sending half of a swarm stream. Small control frames (HAVE, REQUEST, CANCEL...) are
 * batched until the end of the event loop's turn; a chunk frame is written with bounded
 * waits for the peer to read, so neither a peer that stops reading nor a drain event that
 * never comes holds one of the node's upload slots for long.
 */
import type { Logger, Stream } from '@libp2p/interface'
import { DRAIN_WAIT_MS } from '../node-constants.ts'
import { encodeChunk, type FrameLimits } from './codec.ts'

/** What a {@link FrameWriter} needs: the stream, and the session it writes for. */
export interface FrameWriterComponents {
  stream: Stream
  /** The session: nothing is written once it closed, and a write the stream refuses fails it. */
  session: {
    readonly peer: string
    readonly log: Logger
    readonly closed: boolean
    fail(err: Error): void
  }
  /** Aborted when the session closes: ends every wait. */
  signal: AbortSignal
  /** The session decoder's limits (the same object): a chunk's worth is `maxChunkBytes`. */
  limits: FrameLimits
}

/** Writes one session's frames to its stream. */
export class FrameWriter {
  readonly stream: Stream
  private readonly session: FrameWriterComponents['session']
  private readonly signal: AbortSignal
  private readonly limits: FrameLimits
  private pendingControl: Uint8Array[] = []
  private pendingControlBytes = 0

  constructor(components: FrameWriterComponents) {
    this.stream = components.stream
    this.session = components.session
    this.signal = components.signal
    this.limits = components.limits
  }

  /**
   * Queues a small control frame, sent with the others of this turn of the event loop:
   * one muxer frame, one encryption and one socket write for many of them instead of one
   * each.
   */
  send(data: Uint8Array): void {
    if (this.session.closed) return
    this.pendingControl.push(data)
    this.pendingControlBytes += data.byteLength
    if (this.pendingControl.length === 1) setImmediate(() => this.flush())
  }

  /** Sends a chunk, waiting for the stream to drain first if it asked us to. */
  async sendChunk(index: number, bytes: Uint8Array): Promise<void> {
    // A chunk's worth still unread: the peer is not reading (or is far behind). Its chunk is
    // queued at once and the caller's upload slot not held for the waits below, which would
    // only delay the same write; the stream gets no further slot until it takes what it has
    // (`UploadQueue`), so what it holds stays within a chunk plus one round of serves.
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
          signal: AbortSignal.any([this.signal, AbortSignal.timeout(DRAIN_WAIT_MS)]),
        })
      } catch (err) {
        if (this.session.closed) throw err
        this.session.log('no drain from %s within %d ms, writing anyway', this.session.peer, DRAIN_WAIT_MS)
        // not reading for that long: waiting for the write buffer to empty too would hold
        // the slot another DRAIN_WAIT_MS for nothing (`UploadQueue` gives it no more until it reads)
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

  /** A chunk's worth or more is still waiting in the stream's write buffer: the peer is not reading. */
  get backlogged(): boolean {
    const queued = this.stream.writeBufferLength
    return queued > 0 && queued >= this.limits.maxChunkBytes
  }

  /** Resolves once the stream's write buffer is empty, the stream closed, or {@link DRAIN_WAIT_MS} passed. */
  private async written(): Promise<void> {
    if (this.session.closed || this.stream.writeBufferLength === 0) return
    const { promise, resolve } = Promise.withResolvers<void>()
    const signal = AbortSignal.any([this.signal, AbortSignal.timeout(DRAIN_WAIT_MS)])
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
    if (this.session.closed || this.stream.writeStatus !== 'writable') return
    try {
      this.stream.send(data)
    } catch (err) {
      this.session.fail(err as Error)
    }
  }
}
