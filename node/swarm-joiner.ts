/**
 * Which swarms a node is in: one per manifest, joined on first use, with at most
 * `MAX_SWARMS` seeking at once. A manifest a peer sends on a swarm is verified (its hash,
 * and its signature by a trusted origin) before it is stored or used; one that is not is
 * the peer's offense.
 */
import type { Logger } from '@libp2p/interface'
import { logger } from '@libp2p/logger'
import type { CID } from 'multiformats/cid'
import type { Manifest } from './content/index.ts'
import type { DandelionNodeInit } from './index.ts'
import type { Limiter } from './limiter/index.ts'
import { MAX_SWARMS } from './node-constants.ts'
import type { ChunkStore } from './store/index.ts'
import type { ChunkBuffers } from './swarm/chunk-buffers.ts'
import { LimitReachedError, ProtocolError } from './swarm/errors.ts'
import type { Locality } from './swarm/locality.ts'
import type { SwarmNetwork } from './swarm/network.ts'
import { Swarm } from './swarm/swarm.ts'
import type { SwarmStats } from './swarm/swarm-types.ts'
import type { WebSeed } from './swarm/web-seed.ts'

/** Live things {@link SwarmJoiner} hands each swarm, all the node's own. */
export interface SwarmJoinerComponents {
  store: ChunkStore
  limiter: Limiter
  network: Pick<SwarmNetwork, 'swarms' | 'join' | 'ban'>
  /** Where this node and its peers are. */
  locality: Pick<Locality, 'self' | 'of'>
  webSeed?: WebSeed
  /** The node's counters, added to by every swarm. */
  totals: SwarmStats
  chunkBuffers?: ChunkBuffers
  /** Checks a manifest against its CID and the trusted origins. */
  verify: (cid: CID, bytes: Uint8Array) => Promise<Manifest>
  log: Logger
}

/** The node's options every swarm follows (see {@link DandelionNodeInit}). */
export type SwarmJoinerInit = Pick<
  DandelionNodeInit,
  'role' | 'superSeed' | 'fallbackIdleMs' | 'maxPeersPerSwarm' | 'peerStallMs'
>

/** Joins one node's swarms (see the module comment). */
export class SwarmJoiner {
  private readonly c: SwarmJoinerComponents
  private readonly init: SwarmJoinerInit

  constructor(components: SwarmJoinerComponents, init: SwarmJoinerInit = {}) {
    this.c = components
    this.init = { ...init }
  }

  /**
   * The swarm of a manifest, joined on first use.
   * @throws LimitReachedError when `MAX_SWARMS` swarms are seeking already
   */
  swarm(cid: CID): Swarm {
    const { network, locality, store } = this.c
    const key = cid.toString()
    const existing = network.swarms.get(key)
    if (existing !== undefined) return existing
    let seeking = 0
    for (const s of network.swarms.values()) if (s.busy) seeking++
    if (seeking >= MAX_SWARMS) throw new LimitReachedError(`more than ${MAX_SWARMS} downloads at once`)
    const role = this.init.role ?? 'campus'
    const swarm = new Swarm(
      cid,
      {
        store,
        limiter: this.c.limiter,
        log: logger(`dandelion:node:swarm:${key.slice(-8)}`),
        self: locality.self,
        placeOf: (peer, hello) => locality.of(peer, hello),
        ban: (peer, reason) => network.ban(peer, reason),
        webSeed: this.c.webSeed,
        totals: this.c.totals,
        chunkBuffers: this.c.chunkBuffers,
      },
      {
        superSeed: this.init.superSeed ?? role === 'origin',
        fallbackIdleMs: this.init.fallbackIdleMs,
        maxPeers: this.init.maxPeersPerSwarm,
        peerStallMs: this.init.peerStallMs,
      },
    )
    swarm.onManifestBytes = (bytes, from) => {
      this.c
        .verify(cid, bytes)
        .then(
          async (m) => {
            // a store that refuses it (disk or quota full) must not leave waiters hanging: the
            // manifest is verified; `fetch` stores it and reports the failure
            if (!(await store.has(cid)))
              await store
                .put(cid, new Uint8Array(m.bytes))
                .catch((err: Error) => this.c.log('storing the manifest %s failed: %s', cid, err.message))
            await swarm.setManifest(m)
          },
          (err: Error) => {
            // not the manifest asked for, or not signed by a trusted origin: the peer's doing
            from.offend(new ProtocolError(`manifest rejected: ${err.message}`))
          },
        )
        .catch((err: Error) => this.c.log('storing the manifest %s from a peer failed: %s', cid, err.message))
    }
    network.join(swarm)
    return swarm
  }
}
