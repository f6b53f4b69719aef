/**
 * A child process hosting several bench nodes, driven by IPC messages from `bench/swarm.ts`:
 * `start` → `started { addrs }`, `connect { addrs }` → `connected`, `fetch { cid }` →
 * one `node-done { i }` per node then `done { totals }`, `stop`.
 */
import { publicKeyFromProtobuf } from '@libp2p/crypto/keys'
import { createNode, type DandelionNode, type Limits } from '../../node/index.ts'

interface StartMessage {
  type: 'start'
  count: number
  limits: Partial<Limits>
  originUrl: string
  originKey: string
  fallbackIdleMs?: number
}
type Message =
  | StartMessage
  | { type: 'connect'; addrs: string[] }
  | { type: 'fetch'; cid: string }
  | { type: 'stop' }

const nodes: DandelionNode[] = []
const send = (m: object): void => {
  process.send?.(m)
}

process.on('message', (msg: Message) => {
  void handle(msg).catch((err: Error) => send({ type: 'error', message: err.stack }))
})

async function handle(msg: Message): Promise<void> {
  if (msg.type === 'start') {
    const key = publicKeyFromProtobuf(Buffer.from(msg.originKey, 'base64'))
    for (let i = 0; i < msg.count; i++) {
      const n = await createNode({
        dht: false,
        limits: msg.limits,
        originUrl: msg.originUrl,
        trustedOrigins: [key],
        fallbackIdleMs: msg.fallbackIdleMs,
        campus: 'c1',
        city: 'y1',
      })
      await n.start()
      nodes.push(n)
    }
    send({ type: 'started', addrs: nodes.map((n) => n.multiaddrs[0].toString()) })
  } else if (msg.type === 'connect') {
    // static peer list: each pair dials once (the node whose address sorts first dials)
    for (const n of nodes) {
      const own = n.multiaddrs[0].toString()
      for (const addr of msg.addrs) {
        if (addr === own || (addr > own && !addr.includes('seeder'))) continue
        await n.libp2p.dial((await import('@multiformats/multiaddr')).multiaddr(addr.replace('#seeder', '')))
      }
    }
    send({ type: 'connected' })
  } else if (msg.type === 'fetch') {
    await Promise.all(
      nodes.map(async (n, i) => {
        await n.fetch(msg.cid)
        send({ type: 'node-done', i })
      }),
    )
    send({ type: 'done', totals: nodes.map((n) => n.status().totals) })
  } else if (msg.type === 'stop') {
    for (const n of nodes) await n.stop()
    process.exit(0)
  }
}
