/**
 * Where subscriber connections live: in the main thread ({@link LocalShard}) or in a worker
 * thread ({@link WorkerShard}, see `shard-worker.ts`). The publisher side sends every packet to
 * each shard, like mediasoup's pipeToRouter, so fan-out spreads over cores.
 */
import { Worker } from 'node:worker_threads'
import { AbortError, MediaError, ShardCrashedError } from '../errors.ts'
import { SubscriberHub } from './subscriber-hub.ts'
import type { ShardStats, SubscriberHubInit, TrackInfo } from './subscriber-hub-types.ts'

/** Events a shard reports. */
export interface ShardEvents {
  offer(room: string, user: string, sdp: string): void
  keyframe(trackId: string): void
}

/** What the SFU needs from a shard. */
export interface Shard {
  addTrack(info: TrackInfo): void
  removeTrack(trackId: string): void
  /** `at`: when the SFU received the packet (ms, `performance.timeOrigin + performance.now()`). */
  rtp(trackId: string, buf: Buffer, at: number): void
  /** Aborting `options.signal` before the first offer is out releases it all ({@link AbortError}). */
  subscribe(room: string, user: string, options?: CallOptions): Promise<void>
  answer(room: string, user: string, sdp: string, options?: CallOptions): Promise<void>
  leave(room: string, user: string): Promise<void>
  /** `peek`: no delay samples, and those held are left for the next call without it. */
  stats(peek?: boolean): Promise<ShardStats>
  close(): Promise<void>
}

/** Options of a shard's calls. */
export interface CallOptions {
  signal?: AbortSignal
}

/** A shard in the calling thread. */
export class LocalShard implements Shard {
  private readonly hub: SubscriberHub
  constructor(events: ShardEvents, init: SubscriberHubInit = {}) {
    this.hub = new SubscriberHub(events, init)
  }
  addTrack(info: TrackInfo): void {
    this.hub.addTrack(info)
  }
  removeTrack(trackId: string): void {
    this.hub.removeTrack(trackId)
  }
  rtp(trackId: string, buf: Buffer, at: number): void {
    this.hub.rtp(trackId, buf, at)
  }
  subscribe(room: string, user: string, options?: CallOptions): Promise<void> {
    return this.hub.subscribe(room, user, options)
  }
  answer(room: string, user: string, sdp: string, options?: CallOptions): Promise<void> {
    return this.hub.answer(room, user, sdp, options)
  }
  leave(room: string, user: string): Promise<void> {
    return this.hub.leave(room, user)
  }
  async stats(peek = false): Promise<ShardStats> {
    return this.hub.stats(peek)
  }
  close(): Promise<void> {
    return this.hub.close()
  }
}

/** Requests the main thread sends a worker shard. */
export type ShardRequest =
  | { op: 'addTrack'; info: TrackInfo }
  | { op: 'removeTrack'; trackId: string }
  | { op: 'rtp'; trackId: string; buf: Uint8Array; at: number }
  | { op: 'subscribe' | 'leave'; id: number; room: string; user: string }
  | { op: 'answer'; id: number; room: string; user: string; sdp: string }
  | { op: 'stats'; id: number; peek: boolean }
  | { op: 'close'; id: number }
  /** The caller of request `re` aborted: the worker aborts it too (and answers nothing more). */
  | { op: 'abort'; re: number }

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never

/** What a worker shard sends back. */
export type ShardReply =
  | { re: number; ok: true; value?: unknown }
  | { re: number; ok: false; error: string; code?: string }
  | { ev: 'offer'; room: string; user: string; sdp: string }
  | { ev: 'keyframe'; trackId: string }

/** A shard in a worker thread. */
export class WorkerShard implements Shard {
  private readonly worker: Worker
  private readonly pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>()
  private nextId = 1
  /** Set once the worker is gone: every call after that fails with it. */
  private dead: ShardCrashedError | undefined

  constructor(events: ShardEvents, init: SubscriberHubInit = {}) {
    this.worker = new Worker(new URL('./shard-worker.ts', import.meta.url), { workerData: init })
    this.worker.on('message', (m: ShardReply) => {
      if ('ev' in m) {
        if (m.ev === 'offer') events.offer(m.room, m.user, m.sdp)
        else events.keyframe(m.trackId)
        return
      }
      const p = this.pending.get(m.re)
      if (p === undefined) return
      this.pending.delete(m.re)
      if (m.ok) p.resolve(m.value)
      else if (m.code === AbortError.code) p.reject(new AbortError(m.error))
      else p.reject(new MediaError(m.error))
    })
    // an uncaught error is followed by 'exit'; terminate() and process.exit() in the worker give 'exit' only
    this.worker.on('error', (err: unknown) => {
      const why = err instanceof Error ? err.message : String(err)
      this.die(new ShardCrashedError(`shard crashed: ${why}`))
    })
    this.worker.on('exit', (code) => this.die(new ShardCrashedError(`shard exited with code ${code}`)))
  }

  private die(err: ShardCrashedError): void {
    this.dead ??= err
    for (const p of this.pending.values()) p.reject(this.dead)
    this.pending.clear()
  }

  /**
   * Sends `req` and resolves with the worker's answer. Aborting `signal` rejects at once with
   * {@link AbortError} and tells the worker, which releases what the request set up; any
   * request posted after that (a `stats`, a `leave`) is handled once it has.
   */
  private call<T>(
    req: DistributiveOmit<Extract<ShardRequest, { id: number }>, 'id'>,
    signal?: AbortSignal,
  ): Promise<T> {
    // a dead worker never answers: fail now rather than wait for ever
    if (this.dead !== undefined) return Promise.reject(this.dead)
    if (signal?.aborted === true)
      return Promise.reject(new AbortError(`${req.op} aborted`, { cause: signal.reason }))
    const id = this.nextId++
    return new Promise<T>((resolve, reject) => {
      const onAbort = (): void => {
        if (!this.pending.delete(id)) return
        if (this.dead === undefined) this.worker.postMessage({ op: 'abort', re: id } satisfies ShardRequest)
        reject(new AbortError(`${req.op} aborted`, { cause: signal?.reason }))
      }
      const done = (): void => signal?.removeEventListener('abort', onAbort)
      this.pending.set(id, {
        resolve: (v) => {
          done()
          ;(resolve as (v: unknown) => void)(v)
        },
        reject: (e) => {
          done()
          reject(e)
        },
      })
      signal?.addEventListener('abort', onAbort, { once: true })
      this.worker.postMessage({ ...req, id })
    })
  }

  addTrack(info: TrackInfo): void {
    if (this.dead !== undefined) return
    this.worker.postMessage({ op: 'addTrack', info } satisfies ShardRequest)
  }
  removeTrack(trackId: string): void {
    if (this.dead !== undefined) return
    this.worker.postMessage({ op: 'removeTrack', trackId } satisfies ShardRequest)
  }
  rtp(trackId: string, buf: Buffer, at: number): void {
    if (this.dead !== undefined) return
    this.worker.postMessage({ op: 'rtp', trackId, buf, at } satisfies ShardRequest)
  }
  subscribe(room: string, user: string, options: CallOptions = {}): Promise<void> {
    return this.call({ op: 'subscribe', room, user }, options.signal)
  }
  answer(room: string, user: string, sdp: string, options: CallOptions = {}): Promise<void> {
    return this.call({ op: 'answer', room, user, sdp }, options.signal)
  }
  leave(room: string, user: string): Promise<void> {
    return this.call({ op: 'leave', room, user })
  }
  stats(peek = false): Promise<ShardStats> {
    return this.call({ op: 'stats', peek })
  }
  async close(): Promise<void> {
    // a dead shard has nothing left to close; call() rejects at once and terminate() resolves
    await this.call({ op: 'close' }).catch(() => {})
    await this.worker.terminate()
  }
}
