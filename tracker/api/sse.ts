/**
 * Server-sent events for dashboards: the release events (the engine's) and, on a stream of
 * their own, the node events (`node-events.ts`). Subscribers are bounded; one that
 * does not keep up is dropped rather than buffered without limit. Streams are ended when
 * the tracker stops ({@link SseHub.close}).
 *
 * Every event has an id (`sse-log.ts`), and the most recent ones are kept: a client that
 * reconnects with `Last-Event-ID` (EventSource does by itself) is sent what it missed, in
 * order, before live events, or a `reset` event when that is no longer known. Before, a
 * dashboard that lost its connection for a moment silently missed what happened meanwhile.
 */
import type { ServerResponse } from 'node:http'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { MAX_SSE_BUFFERED_EVENTS, MAX_SSE_CLIENTS, SSE_RETRY_MS } from '../constants.ts'
import { CapacityError } from '../errors.ts'
import { EventLog, type EventLogInit } from './sse-log.ts'

/** An event a hub streams: of one release (`releaseId`), or of none. */
export interface StreamedEvent {
  type: string
  releaseId?: string
}

/** What emits the events a hub streams (the engine, the node events). */
export interface EventSource {
  on(name: 'event', listener: (e: StreamedEvent) => void): unknown
  off(name: 'event', listener: (e: StreamedEvent) => void): unknown
}

/** What the hub streams. */
export interface SseHubComponents {
  source: EventSource
}

/** Options of {@link SseHub}. */
export interface SseHubInit extends EventLogInit {
  /** Reconnection delay asked of clients (`retry:`). @default SSE_RETRY_MS */
  retryMs?: number
}

/** One open stream. */
interface Subscriber {
  res: ServerResponse
  /** Only this release's events; all when undefined. */
  releaseId?: string
  /** Events written while the socket's buffer was full. */
  queued: number
}

/** Streams its source's events (optionally of one release) to its subscribers. */
export class SseHub {
  private readonly source: EventSource
  private readonly log: EventLog
  private readonly retryMs: number
  /** Open streams, ended by {@link close}. */
  private readonly open = new Set<Subscriber>()
  private closed = false

  constructor(components: SseHubComponents, init: SseHubInit = {}) {
    this.source = components.source
    this.log = new EventLog(init)
    this.retryMs = init.retryMs ?? SSE_RETRY_MS
    // from the start, not from the first subscriber: what a reconnecting dashboard missed
    // happened while it had no stream open, maybe while none was
    this.source.on('event', this.onEvent)
  }

  /**
   * Streams to `req`: first what it missed since the `Last-Event-ID` header (or, for a client
   * that cannot set it, the `lastEventId` query parameter; the header wins, being what
   * EventSource sets on each reconnect), then live events.
   */
  stream(req: FastifyRequest, reply: FastifyReply, releaseId?: string): void {
    if (this.closed) throw new CapacityError('the tracker is stopping')
    if (this.open.size >= MAX_SSE_CLIENTS) throw new CapacityError('too many event subscribers')
    const header = req.headers['last-event-id']
    // sent twice, the header arrives joined with ", ": no id of ours, so `invalid`
    const lastEventId =
      (Array.isArray(header) ? header.join(', ') : header) || (req.query as Query).lastEventId
    reply.hijack()
    const res = reply.raw
    res.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
    })
    res.write(
      `: dandelion tracker events\nretry: ${this.retryMs}\n\n${this.resumeFrames(lastEventId, releaseId)}`,
    )
    const sub: Subscriber = { res, releaseId, queued: 0 }
    res.on('drain', () => {
      sub.queued = 0
    })
    this.open.add(sub)
    res.once('close', () => this.open.delete(sub))
  }

  /**
   * Ends every stream and takes no new one. A stream is a request that never ends by
   * itself: the HTTP server's close waits for it, so without this `tracker.close()` (what
   * SIGTERM runs) never returned while a dashboard was subscribed, and the state was never
   * closed.
   */
  close(): void {
    this.closed = true
    this.source.off('event', this.onEvent)
    for (const { res } of this.open) res.end()
  }

  /**
   * The frames a stream starts with. EventSource sends `Last-Event-ID` only once it has
   * received an id, so each stream is told its position at once (an id-only frame sets it
   * without an event being dispatched): a dashboard that connects, sees nothing, and loses
   * its connection resumes from there rather than from nothing.
   */
  private resumeFrames(lastEventId: string | undefined, releaseId: string | undefined): string {
    const position = `id: ${this.log.lastId}\n\n`
    // no id (a first connection, or an empty one, which EventSource never sends): live only
    if (lastEventId === undefined || lastEventId === '') return position
    const resume = this.log.resume(lastEventId)
    if ('reset' in resume) {
      // carries the current id: after reloading, the client is at the head of the stream
      const data = JSON.stringify({ type: 'reset', reason: resume.reset, at: Date.now() })
      return `id: ${this.log.lastId}\nevent: reset\ndata: ${data}\n\n`
    }
    let frames = ''
    for (const e of resume.replay) if (releaseId === undefined || e.releaseId === releaseId) frames += e.frame
    // one write: a replay of many events must not count as a subscriber falling behind
    return frames + position
  }

  /** Numbers an event, keeps it, and writes it to every stream that wants it. */
  private readonly onEvent = (e: StreamedEvent): void => {
    const logged = this.log.append(e.releaseId, e.type, JSON.stringify(e))
    for (const sub of this.open) {
      if (sub.releaseId !== undefined && sub.releaseId !== e.releaseId) continue
      if (sub.res.writableNeedDrain && ++sub.queued > MAX_SSE_BUFFERED_EVENTS) {
        sub.res.destroy()
        continue
      }
      sub.res.write(logged.frame)
    }
  }
}

/** Query of the streams (`schemas.ts` `eventsQuery`). */
type Query = { lastEventId?: string }
