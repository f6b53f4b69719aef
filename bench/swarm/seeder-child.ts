/**
 * A seeding daemon in its own process, for RSS measurements: starts a node on the store
 * at DANDELION_BENCH_DIR (which already holds content and its manifest), prints its
 * multiaddr as one JSON line, and stops on SIGTERM.
 */
import { createNode } from '../../node/index.ts'

const node = await createNode({ dataDir: process.env.DANDELION_BENCH_DIR, dht: false })
await node.start()
process.stdout.write(`${JSON.stringify({ addr: node.multiaddrs[0].toString() })}\n`)
process.once('SIGTERM', () => {
  node
    .stop()
    .then(() => process.exit(0))
    .catch(() => process.exit(1))
})
