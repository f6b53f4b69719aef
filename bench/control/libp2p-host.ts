/**
 * Transport comparison child: a libp2p host as the tracker would run it for a channel
 * protocol (tcp + noise + yamux + identify + ping), with connection limits raised for
 * thousands of nodes. Prints its address.
 */
import { identify } from '@libp2p/identify'
import { noise } from '@libp2p/noise'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { createLibp2p } from 'libp2p'

const host = await createLibp2p({
  addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
  transports: [tcp()],
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()],
  connectionManager: {
    maxConnections: 20_000,
    inboundConnectionThreshold: 100_000,
    maxIncomingPendingConnections: 5_000,
  },
  services: { identify: identify(), ping: ping() },
})
process.stdout.write(JSON.stringify({ addr: host.getMultiaddrs()[0].toString() }) + '\n')
process.on('SIGTERM', async () => {
  await host.stop()
  process.exit(0)
})
