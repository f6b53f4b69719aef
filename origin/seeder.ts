/**
 * The origin's seeder: a Dandelion node that shares the origin's chunk store and signing
 * key (so its PeerId is the manifest-signing identity), super-seeds every published
 * version and every new one as it is published, and stops serving a version once it is
 * removed, before its chunks are deleted.
 *
 * ```ts
 * const origin = await createOrigin({ dataDir, token })
 * const seeder = await attachSeeder(origin, { listen: ['/ip4/0.0.0.0/tcp/4001'] })
 * ```
 */
import { logger } from '@libp2p/logger'
import { createNode, type DandelionNode, type DandelionNodeInit } from '../node/index.ts'
import type { Origin, PublishedVersion } from './index.ts'

const log = logger('dandelion:origin:seeder')

/** Options of {@link attachSeeder}: node options, less what the origin supplies. */
export type SeederInit = Omit<DandelionNodeInit, 'store' | 'privateKey' | 'role' | 'originUrl' | 'dataDir'>

/** A running seeder. */
export interface Seeder {
  node: DandelionNode
  stop(): Promise<void>
}

/** Starts a node on `origin.store` with `origin.privateKey` and seeds every version. */
export async function attachSeeder(origin: Origin, init: SeederInit = {}): Promise<Seeder> {
  const node = await createNode({
    ...init,
    role: 'origin',
    store: origin.store,
    privateKey: origin.privateKey,
    originUrl: origin.url,
    trustedOrigins: [origin.publicKey],
  })
  await node.start()
  const seedVersion = (v: PublishedVersion): void => {
    origin
      .manifest(v.manifestCid)
      .then(async (m) => await node.seed(m))
      .catch((err: Error) => log.error('cannot seed %s v%d: %e', v.name, v.version, err))
  }
  const unsubscribe = origin.onVersion(seedVersion)
  const unsubscribeRemoved = origin.onRemoved((v) => node.unseed(v.manifestCid))
  for (const v of await origin.listVersions()) seedVersion(v)
  return {
    node,
    async stop() {
      unsubscribe()
      unsubscribeRemoved()
      await node.stop()
    },
  }
}
