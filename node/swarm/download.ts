/**
 * What one swarm's download is for and how it ends: replicating every chunk (a fetch) or
 * streaming what readers wait for; settled once every chunk is held, reopened when one is
 * lost, failed (the fetch and every waiting reader) when it cannot go on.
 */
import type { ChunkWaiters } from './chunk-waiters.ts'
import type { RequestScheduler } from './scheduler.ts'
import type { ChunkServer } from './server.ts'
import type { Swarm } from './swarm.ts'
import type { SwarmComponents } from './swarm-types.ts'

/** What the download reads (and sets) of its swarm. */
export type DownloadSwarm = Pick<Swarm, 'have' | 'sessions' | 'failure' | 'replicate' | 'stopped' | 'seek'>

/** Live things a {@link SwarmDownload} uses. */
export interface SwarmDownloadComponents extends Pick<SwarmComponents, 'log'> {
  swarm: DownloadSwarm
  /** Playback readers blocked on chunks. */
  readers: ChunkWaiters
  scheduler: RequestScheduler
  /** The upload side: a super-seeder still needs the timer once everything is held. */
  server: ChunkServer
  /** Aborted when the swarm stops. */
  signal: AbortSignal
}

/** The outcome of one swarm's download, and who waits for it. */
export class SwarmDownload {
  private readonly swarm: DownloadSwarm
  private readonly c: SwarmDownloadComponents
  private completion = SwarmDownload.deferred()

  private static deferred(): PromiseWithResolvers<void> {
    const d = Promise.withResolvers<void>()
    d.promise.catch(() => {})
    return d
  }

  constructor(components: SwarmDownloadComponents) {
    this.c = components
    this.swarm = components.swarm
  }

  /**
   * Settles when every chunk is stored; rejects when the swarm stops or downloading fails
   * (`Swarm.failure`). After a failure a new one stands for the next attempt.
   */
  get done(): PromiseWithResolvers<void> {
    return this.completion
  }

  /** Starts replicating every chunk (what `fetch` asks for). */
  want(): void {
    const swarm = this.swarm
    swarm.failure = undefined
    swarm.replicate = true
    swarm.seek()
    this.c.scheduler.schedule()
  }

  /** Waits until chunk `index` is stored, asking for it (and the next few) before anything else. */
  async waitForChunk(index: number, options: { signal?: AbortSignal } = {}): Promise<void> {
    const swarm = this.swarm
    if (swarm.have?.has(index) === true) return
    // a reader asking again after a failure is a new attempt
    swarm.failure = undefined
    swarm.seek()
    this.c.scheduler.schedule()
    await this.c.readers.wait(index, () => swarm.have?.has(index) === true, [options.signal, this.c.signal])
  }

  /** Everything is held: the fetch resolves; only a super-seeder still needs the timer. */
  settle(): void {
    if (this.c.server.superSeeder === undefined) this.c.scheduler.stopTicking()
    this.done.resolve()
  }

  /**
   * A chunk no longer in the store (deleted under this swarm): marked missing, so a reader
   * asking for it waits for it to be fetched again.
   */
  lost(index: number): void {
    const have = this.swarm.have
    if (have?.has(index) !== true) return
    const wasComplete = have.complete
    have.clear(index)
    if (this.swarm.stopped) return
    if (wasComplete) {
      // settled already: the next fetch waits for the chunk again, and the timer ticks again
      this.completion = SwarmDownload.deferred()
      this.c.scheduler.startTicking()
    }
    this.c.scheduler.schedule()
  }

  /**
   * The download cannot go on (the store refused a chunk, or the content is larger than
   * the node's whole quota): stop it and fail the fetch and waiting readers with `err`,
   * which status reports. The next fetch or read tries again.
   */
  refuse(err: Error): void {
    const swarm = this.swarm
    if (swarm.stopped || swarm.failure !== undefined) return
    swarm.failure = err
    swarm.replicate = false
    this.c.log.error('%s', err.message)
    for (const s of swarm.sessions.values())
      for (const i of [...s.outstanding.keys()]) this.c.scheduler.withdraw(s, i)
    const completion = this.completion
    this.completion = SwarmDownload.deferred()
    completion.reject(err)
    this.c.readers.failAll(err)
  }
}
