/**
 * The tracker's libp2p host: a DHT server that nodes list as a bootstrap peer. Its key is
 * the tracker's own (`<dataDir>/tracker.key`, see `createTracker`), so the bootstrap
 * address survives restarts.
 */
import type { Libp2p, PrivateKey } from '@libp2p/interface'
import { createHost, type HostServices } from '../node/host/index.ts'

/** Options of the bootstrap host. */
export interface BootstrapInit {
  /** @default ['/ip4/127.0.0.1/tcp/0'] */
  listen?: string[]
  /** @default the tracker's key */
  privateKey?: PrivateKey
}

/** Starts a DHT-server libp2p host for the tracker. */
export async function startBootstrapHost(
  init: BootstrapInit & { privateKey: PrivateKey },
): Promise<Libp2p<HostServices>> {
  const host = await createHost({
    privateKey: init.privateKey,
    listen: init.listen,
    dht: true,
    dhtClientMode: false,
  })
  await host.start()
  return host
}
