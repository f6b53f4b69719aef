/**
 * A peer's requests to us, waiting to be served: a few at a time, so a disk read overlaps
 * the previous send, each in one of the node's upload slots. The slot goes to the session
 * whose next chunk is rarest, and the chunk is chosen when the slot is granted, not
 * before. A peer that does not read what it was sent gets no slot until it does.
 */
import { DRAIN_WAIT_MS, MAX_QUEUED_REQUESTS_PER_PEER, SERVE_CONCURRENCY } from '../node-constants.ts'
import { FrameType } from './codec.ts'
import { ProtocolError } from './errors.ts'
import type { FrameWriter } from './frame-writer.ts'
import type { PeerSession } from './session.ts'

/** What an {@link UploadQueue} serves for: its session, that session's writer, and its end. */
export interface UploadQueueComponents {
  /** The session: its owner serves each request; a flood of requests is its offense. */
  session: PeerSession
  /** The session's writer: whether the peer reads what it was sent. */
  writer: FrameWriter
  /** Aborted when the session closes: a wait for a slot ends. */
  signal: AbortSignal
}

/** The requests one peer made of us, and those being served now. */
export class UploadQueue {
  private readonly session: PeerSession
  private readonly writer: FrameWriter
  private readonly signal: AbortSignal
  private readonly queue: number[] = []
  private serving = 0
  private waitingSlot = false
  /** Waiting for the peer to read what it was sent before asking for another slot. */
  private waitingRoom = false

  constructor(components: UploadQueueComponents) {
    this.session = components.session
    this.writer = components.writer
    this.signal = components.signal
  }

  /** Requests queued, not yet served. */
  get queued(): number {
    return this.queue.length
  }

  /** Requests being served now. */
  get servingNow(): number {
    return this.serving
  }

  /** Queues the peer's request for chunk `index` and serves what it can. */
  add(index: number): void {
    // "pipelined chunk requests with a per-peer window": a peer flooding requests past the bound is broken
    if (this.queue.length >= MAX_QUEUED_REQUESTS_PER_PEER) {
      this.session.offend(new ProtocolError(`more than ${MAX_QUEUED_REQUESTS_PER_PEER} requests queued`))
      return
    }
    this.queue.push(index)
    this.pump()
  }

  /** The peer cancelled its request for chunk `index`: unserved, it is dropped. */
  cancel(index: number): void {
    const at = this.queue.indexOf(index)
    if (at >= 0) this.queue.splice(at, 1)
  }

  /** Drops every queued request (the session closed). */
  clear(): void {
    this.queue.length = 0
  }

  /**
   * Serves queued requests, a few at a time so a disk read overlaps the previous send.
   * Each needs one of the node's upload slots; the slot goes to the session whose next
   * chunk is rarest, and the chunk is chosen when the slot is granted, not before.
   */
  private pump(): void {
    const session = this.session
    if (
      session.closed ||
      this.waitingSlot ||
      this.waitingRoom ||
      this.serving >= SERVE_CONCURRENCY ||
      this.queue.length === 0
    )
      return
    // A peer that does not read what it asked for (its stream's write buffer holds a chunk
    // already) gets no slot until it does: before this, each of its requests held a slot
    // for the drain and write waits (about 2 s) and then left its chunk in the write buffer
    // anyway, so three such peers slowed an honest leecher's 8 MiB from 0.4 s to 44 s, and
    // the buffer grew without bound (a chunk per request) for as long as they kept asking.
    if (this.writer.backlogged) {
      this.awaitRoom()
      return
    }
    this.waitingSlot = true
    const gate = session.owner.uploads
    gate
      .acquire(() => this.rarestQueued(), { signal: this.signal })
      .then(() => {
        this.waitingSlot = false
        if (session.closed || this.queue.length === 0 || this.writer.backlogged) {
          gate.release()
          this.pump()
          return
        }
        // serve the rarest requested chunk first: a chunk few peers hold yet spreads from here
        const owner = session.owner
        let at = 0
        for (let k = 1; k < this.queue.length; k++) {
          if (owner.rarity(this.queue[k]) < owner.rarity(this.queue[at])) at = k
        }
        const index = this.queue.splice(at, 1)[0]
        this.serving++
        owner
          .serve(session, index, this.signal)
          .then((served) => {
            if (!served && !session.closed) session.sendIndex(FrameType.DontHave, index)
          })
          .catch((err: Error) => session.fail(err))
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

  /**
   * Waits, holding no upload slot, until the stream takes more (a drain, an empty write
   * buffer) or closes, then serves again. Looked at again every {@link DRAIN_WAIT_MS}
   * too, so a drain event that never reaches this stream does not stop it for ever.
   */
  private awaitRoom(): void {
    if (this.waitingRoom) return
    this.waitingRoom = true
    const stream = this.writer.stream
    const again = (): void => {
      clearTimeout(timer)
      stream.removeEventListener('drain', again)
      stream.removeEventListener('idle', again)
      stream.removeEventListener('close', again)
      this.waitingRoom = false
      this.pump()
    }
    const timer = setTimeout(again, DRAIN_WAIT_MS)
    stream.addEventListener('drain', again)
    stream.addEventListener('idle', again)
    stream.addEventListener('close', again)
  }

  private rarestQueued(): number {
    let min = Number.POSITIVE_INFINITY
    for (const i of this.queue) min = Math.min(min, this.session.owner.rarity(i))
    return min
  }
}
