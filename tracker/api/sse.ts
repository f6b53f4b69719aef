/**
 * Server-sent events of release events, for dashboards. Subscribers are bounded; one that
 * does not keep up is dropped rather than buffered without limit. Streams are ended when
 * the tracker stops ({@link SseHub.close}).
 */
import type { ServerResponse } from 'node:http'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { MAX_SSE_BUFFERED_EVENTS, MAX_SSE_CLIENTS } from '../constants.ts'
import { CapacityError } from '../errors.ts'
import type { ReleaseEvent, RolloutEngine } from '../rollout/engine.ts'

/** Streams the engine's events (optionally of one release) to the request. */
export class SseHub {
  private clients = 0
  /** Open streams, ended by {@link close}. */
  private readonly open = new Set<ServerResponse>()
  private closed = false
  private readonly engine: RolloutEngine
  constructor(engine: RolloutEngine) {
    this.engine = engine
  }

  stream(req: FastifyRequest, reply: FastifyReply, releaseId?: string): void {
    if (this.closed) throw new CapacityError('the tracker is stopping')
    if (this.clients >= MAX_SSE_CLIENTS) throw new CapacityError('too many event subscribers')
    this.clients++
    reply.hijack()
    const res = reply.raw
    res.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
    })
    res.write(': dandelion tracker events\n\n')
    let queued = 0
    const onEvent = (e: ReleaseEvent): void => {
      if (releaseId !== undefined && e.releaseId !== releaseId) return
      if (res.writableNeedDrain && ++queued > MAX_SSE_BUFFERED_EVENTS) {
        res.destroy()
        return
      }
      res.write(`event: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`)
    }
    res.on('drain', () => {
      queued = 0
    })
    this.engine.on('event', onEvent)
    this.open.add(res)
    const done = (): void => {
      this.engine.off('event', onEvent)
      this.open.delete(res)
      this.clients--
    }
    req.raw.once('close', done)
  }

  /**
   * Ends every stream and takes no new one. A stream is a request that never ends by
   * itself: the HTTP server's close waits for it, so without this `tracker.close()` (what
   * SIGTERM runs) never returned while a dashboard was subscribed, and the state was never
   * closed.
   */
  close(): void {
    this.closed = true
    for (const res of this.open) res.end()
  }
}
