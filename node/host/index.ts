/**
 * The libp2p host of a node: TCP (and optionally WebRTC-Direct for devices behind NAT, its
 * certificate kept in the data directory: `webrtc-certificate.ts`), noise (with session keys
 * imported once: `noise-crypto.ts`), yamux, identify, ping and kad-dht on a private protocol
 * with LAN-friendly address mapping, plus optional mDNS.
 */
import { join } from 'node:path'
import { identify } from '@libp2p/identify'
import type { Libp2p, PeerDiscovery, PeerId, PeerInfo, PrivateKey } from '@libp2p/interface'
import type { KadDHT } from '@libp2p/kad-dht'
import { logger } from '@libp2p/logger'
import { noise } from '@libp2p/noise'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { createLibp2p } from 'libp2p'
import { KAD_PROTOCOL, MDNS_QUERY_INTERVAL_MS, MDNS_SERVICE_TAG } from '../node-constants.ts'
import { noiseCrypto } from './noise-crypto.ts'

/** Options of {@link createHost}. */
export interface HostInit {
  /** Identity key. @default a new ed25519 key */
  privateKey?: PrivateKey
  /** Listen addresses. @default ['/ip4/127.0.0.1/tcp/0'] */
  listen?: string[]
  /** Run the DHT in client mode (devices): query it, never serve it. @default false */
  dhtClientMode?: boolean
  /** Enable the DHT at all. @default true */
  dht?: boolean
  /** Discover peers on the LAN with mDNS. @default false */
  mdns?: boolean
  /**
   * Answer other nodes' mDNS queries. Devices do not: they look for campus nodes, and a
   * classroom of lamps that answered each other would dial each other too. @default true
   */
  mdnsAnswer?: boolean
  /**
   * Called with each peer mDNS finds (libp2p only records them: dialing is the caller's,
   * see `lan-dialer.ts`).
   */
  onLanPeer?: (peer: PeerInfo) => void
  /** Add the WebRTC-Direct transport (needs a `/webrtc-direct` listen address to accept). @default false */
  webrtc?: boolean
  /**
   * The node's data directory: the WebRTC-Direct certificate is kept there
   * (`webrtc-certificate.pem`), so the node's `/certhash/` address is the same at every start.
   * @default none: a new certificate, and address, at each start
   */
  dataDir?: string
  /** Where warnings the operator must see go (a WebRTC-Direct certificate replaced). @default logged */
  onWarning?: (message: string) => void
  /** Peers to neither dial nor accept (checked at each connection). @default none */
  isBanned?: (peer: PeerId) => boolean
}

/** Services every Dandelion host carries. */
export type HostServices = {
  identify: ReturnType<ReturnType<typeof identify>>
  ping: ReturnType<ReturnType<typeof ping>>
  dht?: KadDHT
}

/** Creates (but does not start) a libp2p host. */
export async function createHost(init: HostInit = {}): Promise<Libp2p<HostServices>> {
  // optional parts are imported only when enabled: WebRTC, mDNS and the DHT weigh tens of MB of RSS
  const discovery: Array<(components: never) => PeerDiscovery> = []
  if (init.mdns === true) {
    const { mdns } = await import('@libp2p/mdns')
    const service = mdns({
      interval: MDNS_QUERY_INTERVAL_MS,
      serviceTag: MDNS_SERVICE_TAG,
      broadcast: init.mdnsAnswer ?? true,
    })
    const onLanPeer = init.onLanPeer
    discovery.push(((components: Parameters<typeof service>[0]) => {
      const d = service(components)
      if (onLanPeer !== undefined) d.addEventListener('peer', (evt) => onLanPeer(evt.detail))
      return d
    }) as (components: never) => PeerDiscovery)
  }
  const transports = [tcp()]
  if (init.webrtc === true) {
    const { webRTCDirect } = await import('@libp2p/webrtc')
    const { loadWebRTCDirectCertificate, WEBRTC_CERTIFICATE_FILE } = await import('./webrtc-certificate.ts')
    // libp2p's own certificate changes at each start: see webrtc-certificate.ts
    const certificate = await loadWebRTCDirectCertificate(
      { logger: logger('dandelion:node:host:webrtc'), warn: init.onWarning },
      { path: init.dataDir === undefined ? undefined : join(init.dataDir, WEBRTC_CERTIFICATE_FILE) },
    )
    transports.push(webRTCDirect({ certificate }) as unknown as ReturnType<typeof tcp>)
  }
  const services: Record<string, unknown> = { identify: identify(), ping: ping() }
  if (init.dht !== false) {
    const { kadDHT, passthroughMapper } = await import('@libp2p/kad-dht')
    services.dht = kadDHT({
      protocol: KAD_PROTOCOL,
      clientMode: init.dhtClientMode ?? false,
      // campuses and loopback use private addresses: the default mapper drops them and nothing is found
      peerInfoMapper: passthroughMapper,
    })
  }
  return (await createLibp2p({
    privateKey: init.privateKey,
    start: false,
    addresses: { listen: init.listen ?? ['/ip4/127.0.0.1/tcp/0'] },
    transports,
    // noise's own crypto, but with session keys imported once (see noise-crypto.ts)
    connectionEncrypters: [noise({ crypto: noiseCrypto })],
    streamMuxers: [yamux()],
    peerDiscovery: discovery as never,
    // a banned peer gets no connection at all, not only its swarm streams refused
    connectionGater:
      init.isBanned === undefined
        ? undefined
        : {
            denyDialPeer: init.isBanned,
            denyInboundEncryptedConnection: init.isBanned,
            denyOutboundEncryptedConnection: init.isBanned,
          },
    connectionManager: {
      maxConnections: 300,
      // a campus sits behind few addresses (and tests on one): the default of 5 inbound
      // connections per second per host resets the rest
      inboundConnectionThreshold: 1000,
      maxIncomingPendingConnections: 100,
    },
    services: services as never,
  })) as unknown as Libp2p<HostServices>
}
