/**
 * Transport comparison child: `count` libp2p peers (tcp + noise + yamux), each dialling
 * the host once and keeping the connection, like nodes keeping a channel to the tracker.
 * argv: <hostAddr> <count>. IPC out: { type: 'ready', connected, seconds }.
 */
import { noise } from '@libp2p/noise'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'

const [addr, countArg] = process.argv.slice(2)
const t0 = performance.now()
let connected = 0
const WAVE = 50
const peers = []
for (let i = 0; i < Number(countArg); i += WAVE) {
  await Promise.all(
    Array.from({ length: Math.min(WAVE, Number(countArg) - i) }, async () => {
      const p = await createLibp2p({
        transports: [tcp()],
        connectionEncrypters: [noise()],
        streamMuxers: [yamux()],
        connectionManager: { maxConnections: 10 },
      })
      peers.push(p)
      await p.dial(multiaddr(addr))
      connected++
    }),
  )
}
process.send!({ type: 'ready', connected, seconds: (performance.now() - t0) / 1000 })
process.on('message', () => process.exit(0))
