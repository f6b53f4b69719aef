/**
 * A seeding daemon in its own process, for RSS measurements: starts a node on the store
 * at DANDELION_BENCH_DIR (which already holds content and its manifest), prints its
 * multiaddr as one JSON line, and stops on SIGTERM.
 */
import { createNode } from '../../node/index.ts'

const node = await createNode({ dataDir: process.env.DANDELION_BENCH_DIR, dht: false })
await node.start()
process.stdout.write(`${JSON.stringify({ addr: node.multiaddrs[0].toString() })}\n`)
const peak: Record<string, number> = {}
const sample = setInterval(() => {
  for (const [k, v] of Object.entries(process.memoryUsage()))
    peak[k] = Math.max(peak[k] ?? 0, Math.round(v / 1048576))
}, 50)
process.once('SIGTERM', () => {
  clearInterval(sample)
  if (process.env.DANDELION_BENCH_MEMLOG !== undefined)
    process.stderr.write(`seeder peak memory (MB): ${JSON.stringify(peak)}\n`)
  node
    .stop()
    .then(() => process.exit(0))
    .catch(() => process.exit(1))
})
