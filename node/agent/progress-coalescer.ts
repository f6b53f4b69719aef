/**
 * Progress frames on a backed-up channel. A node on a slow link sent every progress report
 * (two a second per download) into the socket's buffer whatever it held, and a stalled
 * receiver made that buffer grow for as long as the download ran. Progress is a level,
 * not an event: above the high-water mark only each command's latest report is kept, and
 * sent once the socket has taken what it holds (ACKs and outcomes are never held).
 */
import type { NodeFrame } from './protocol.ts'

/** A progress frame. */
export type ProgressFrame = Extract<NodeFrame, { t: 'progress' }>

/** See the module comment. */
export class ProgressCoalescer {
  private readonly highWaterBytes: number
  private readonly maxHeld: number
  /** Latest held report per command id, oldest first. */
  private readonly latest = new Map<string, ProgressFrame>()

  /**
   * @param highWaterBytes bytes the socket may hold unsent before progress is held
   * @param maxHeld most commands whose report is held (the oldest is dropped past it)
   */
  constructor(highWaterBytes: number, maxHeld: number) {
    this.highWaterBytes = highWaterBytes
    this.maxHeld = maxHeld
  }

  /** Reports held now. */
  get held(): number {
    return this.latest.size
  }

  /**
   * Sends `frame` through `write` if the socket holds at most the high-water mark
   * (`buffered` bytes), after the reports held for other commands; else holds it.
   */
  offer(frame: ProgressFrame, buffered: number, write: (f: ProgressFrame) => void): void {
    if (buffered > this.highWaterBytes) {
      this.latest.delete(frame.id)
      if (this.latest.size >= this.maxHeld) this.latest.delete(this.latest.keys().next().value as string)
      this.latest.set(frame.id, frame)
      return
    }
    this.latest.delete(frame.id)
    this.drained(buffered, write)
    write(frame)
  }

  /** The socket took some bytes: sends what is held if it now holds at most the mark. */
  drained(buffered: number, write: (f: ProgressFrame) => void): void {
    if (buffered > this.highWaterBytes || this.latest.size === 0) return
    const held = [...this.latest.values()]
    this.latest.clear()
    for (const f of held) write(f)
  }

  /** The command's outcome is being sent: a report held for it is moot. */
  drop(id: string): void {
    this.latest.delete(id)
  }

  /** The connection is gone: nothing held is sent on the next one. */
  clear(): void {
    this.latest.clear()
  }
}
