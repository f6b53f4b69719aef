/**
 * The numbered log behind the SSE streams: every event's id, a ring of the most recent
 * ones, and what a client reconnecting with `Last-Event-ID` is sent first.
 *
 * An id is `<epoch>-<seq>`: `epoch` is when this log was made (the tracker's start, epoch
 * ms) and `seq` counts its events from 1. Ids increase in (epoch, seq) order, across
 * restarts too while the clock does. The log is in memory only: the state on disk keeps
 * no global sequence of events (only per-node command sequences), and writing each event
 * to disk would cost a write per node state change in a rollout. So a restarted tracker
 * starts a new stream, and a client that presents an id of an earlier one is told to
 * reload (`restarted`): whatever happened while the tracker was down and restarting was
 * never logged.
 */
import { SSE_REPLAY_EVENTS } from '../constants.ts'

/** Why a reconnecting client is sent `reset` (reload the state) instead of what it missed. */
export type ResetReason =
  /** The id is of another stream: the tracker restarted since (or it is another tracker). */
  | 'restarted'
  /** Events after the id are no longer kept. */
  | 'too-old'
  /** The id is not one the tracker sends, or is ahead of this stream. */
  | 'invalid'

/** An event as it was sent. */
export interface LoggedEvent {
  seq: number
  /** The release it is of, if any (a stream of one release replays only its own). */
  releaseId?: string
  /** The whole SSE frame, id line included. */
  frame: string
}

/** What a reconnecting client is sent before live events. */
export type Resume = { replay: LoggedEvent[] } | { reset: ResetReason }

/** Options of {@link EventLog}. */
export interface EventLogInit {
  /** Events kept for replay. @default SSE_REPLAY_EVENTS */
  capacity?: number
  /** The stream's epoch (epoch ms). @default Date.now() */
  epoch?: number
}

const ID = /^(\d{1,16})-(\d{1,16})$/

/** Numbers events and keeps the last {@link EventLogInit.capacity} of them. */
export class EventLog {
  readonly epoch: number
  private readonly capacity: number
  /** Seq of the last event; 0 before the first. */
  private seq = 0
  /** A circular buffer: the oldest kept event at {@link head}. */
  private readonly ring: LoggedEvent[] = []
  private head = 0

  constructor(init: EventLogInit = {}) {
    this.epoch = init.epoch ?? Date.now()
    this.capacity = init.capacity ?? SSE_REPLAY_EVENTS
    if (!Number.isInteger(this.capacity) || this.capacity < 1)
      throw new RangeError(`capacity must be a positive integer, not ${this.capacity}`)
  }

  /** Id of the last event logged (`<epoch>-0` before the first): where a client is now. */
  get lastId(): string {
    return `${this.epoch}-${this.seq}`
  }

  /** Logs an event and returns it, framed with its id. `data` is JSON text (one line). */
  append(releaseId: string | undefined, type: string, data: string): LoggedEvent {
    const seq = ++this.seq
    const e = { seq, releaseId, frame: `id: ${this.epoch}-${seq}\nevent: ${type}\ndata: ${data}\n\n` }
    if (this.ring.length < this.capacity) this.ring.push(e)
    else {
      this.ring[this.head] = e
      this.head = (this.head + 1) % this.capacity
    }
    return e
  }

  /** What a client whose last event was `lastEventId` missed, in order, or why it must reload. */
  resume(lastEventId: string): Resume {
    const m = ID.exec(lastEventId)
    if (m === null) return { reset: 'invalid' }
    if (Number(m[1]) !== this.epoch) return { reset: 'restarted' }
    const after = Number(m[2])
    if (after > this.seq) return { reset: 'invalid' }
    // the oldest kept is seq − length + 1: a client at the one before it has missed nothing dropped
    if (after < this.seq - this.ring.length) return { reset: 'too-old' }
    const missed = this.seq - after
    const replay: LoggedEvent[] = []
    for (let i = this.ring.length - missed; i < this.ring.length; i++)
      replay.push(this.ring[(this.head + i) % this.ring.length])
    return { replay }
  }
}
