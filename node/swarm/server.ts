/**
 * The upload side of one swarm: a peer's queued request, once its session holds an upload
 * slot, is paced by the upload bucket, read from the store and sent. A super-seeding node
 * (`super-seed.ts`) advertises nothing and serves only what it offered.
 */
import type { PeerSession } from './session.ts'
import { SuperSeeder } from './super-seed.ts'
import type { Swarm } from './swarm.ts'
import type { SwarmComponents, SwarmInit, SwarmStats } from './swarm-types.ts'

/** What serving reads (and marks) of its swarm. */
export type ServedSwarm = Pick<
  Swarm,
  'manifest' | 'have' | 'availability' | 'sessions' | 'chunkLength' | 'lost' | 'stallMs'
>

/** Live things a {@link ChunkServer} uses. */
export interface ChunkServerComponents extends Pick<SwarmComponents, 'store' | 'limiter' | 'totals'> {
  swarm: ServedSwarm
  /** The swarm's own counters. */
  stats: SwarmStats
}

/** Serves one swarm's chunks to its peers. */
export class ChunkServer {
  /** Set with the manifest ({@link start}) when this node super-seeds (`SwarmInit.superSeed`). */
  superSeeder?: SuperSeeder
  private readonly swarm: ServedSwarm
  private readonly c: ChunkServerComponents
  private readonly init: Pick<SwarmInit, 'superSeed'>

  constructor(components: ChunkServerComponents, init: Pick<SwarmInit, 'superSeed'> = {}) {
    this.c = components
    this.swarm = components.swarm
    this.init = init
  }

  /** The manifest is known (and what we hold of it): starts super-seeding if asked to. */
  start(): void {
    if (this.init.superSeed !== true) return
    const swarm = this.swarm
    this.superSeeder = new SuperSeeder(
      {
        size: swarm.have!.size,
        availability: swarm.availability,
        sessions: { [Symbol.iterator]: () => swarm.sessions.values() },
      },
      // an offer a peer sits on for a stall period goes to someone else
      { offerTimeoutMs: swarm.stallMs },
    )
  }

  /** Serves one queued request: resolves when the chunk has been handed to the stream, or false to refuse. */
  async serve(session: PeerSession, index: number, signal: AbortSignal): Promise<boolean> {
    const swarm = this.swarm
    const m = swarm.manifest
    if (m === undefined || index >= m.chunks.length || swarm.have?.has(index) !== true) return false
    if (this.superSeeder !== undefined && !this.superSeeder.mayServe(session, index)) return false
    const length = swarm.chunkLength(index)
    await this.c.limiter.upload.take(length, { signal })
    let bytes: Uint8Array
    try {
      bytes = await this.c.store.get(m.chunks[index], { signal })
    } catch (err) {
      // gone from the store (it rotted on disk and was dropped, or was evicted): stop
      // counting it as held, so that a fetch or a reader brings it back
      if ((err as Error).name === 'ChunkNotFoundError') swarm.lost(index)
      return false
    }
    await session.writer.sendChunk(index, bytes)
    this.c.stats.bytesUploaded += length
    this.c.totals.bytesUploaded += length
    this.superSeeder?.sent(session, index)
    return true
  }
}
