/**
 * The tracker's libp2p host: a DHT server that nodes list as a bootstrap peer. Its key
 * is kept in `<dataDir>/tracker.key` so the bootstrap address survives restarts.
 */
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Libp2p, PrivateKey } from '@libp2p/interface'
import { createHost, type HostServices } from '../node/host/index.ts'
import { loadOrCreateKey } from '../node/keys.ts'

/** Options of the bootstrap host. */
export interface BootstrapInit {
  /** @default ['/ip4/127.0.0.1/tcp/0'] */
  listen?: string[]
  /** @default loaded from (or created in) `<dataDir>/tracker.key`, or a new key in memory */
  privateKey?: PrivateKey
}

async function loadKey(dataDir: string | undefined): Promise<PrivateKey> {
  return dataDir === undefined
    ? await generateKeyPair('Ed25519')
    : await loadOrCreateKey(join(dataDir, 'tracker.key'))
}

/** Starts a DHT-server libp2p host for the tracker. */
export async function startBootstrapHost(
  dataDir: string | undefined,
  init: BootstrapInit,
): Promise<Libp2p<HostServices>> {
  const host = await createHost({
    privateKey: init.privateKey ?? (await loadKey(dataDir)),
    listen: init.listen,
    dht: true,
    dhtClientMode: false,
  })
  await host.start()
  return host
}
