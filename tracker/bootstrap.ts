/**
 * The tracker's libp2p host: a DHT server that nodes list as a bootstrap peer. Its key
 * is kept in `<dataDir>/tracker.key` so the bootstrap address survives restarts.
 */
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { Libp2p, PrivateKey } from '@libp2p/interface'
import { createHost, type HostServices } from '../node/host/index.ts'

/** Options of the bootstrap host. */
export interface BootstrapInit {
  /** @default ['/ip4/127.0.0.1/tcp/0'] */
  listen?: string[]
  /** @default loaded from (or created in) `<dataDir>/tracker.key`, or a new key in memory */
  privateKey?: PrivateKey
}

async function loadKey(dataDir: string | undefined): Promise<PrivateKey> {
  if (dataDir === undefined) return generateKeyPair('Ed25519')
  const file = join(dataDir, 'tracker.key')
  try {
    return privateKeyFromProtobuf(await readFile(file))
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  const key = await generateKeyPair('Ed25519')
  await writeFile(file, privateKeyToProtobuf(key), { mode: 0o600, flag: 'wx' })
  return key
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
