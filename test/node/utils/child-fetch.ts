/**
 * A node in a child process for kill/restart tests. Reads its config from the
 * DANDELION_TEST_CHILD env variable (JSON: dataDir, bootstrap, manifestCid, downloadBytesPerSecond),
 * fetches the manifest and prints one JSON line per progress event and a final `done` line.
 */
import { createNode } from '../../../node/index.ts'

const cfg = JSON.parse(process.env.DANDELION_TEST_CHILD ?? '{}') as {
  dataDir: string
  bootstrap: string[]
  manifestCid: string
  downloadBytesPerSecond?: number
}
const node = await createNode({
  dataDir: cfg.dataDir,
  bootstrap: cfg.bootstrap,
  dht: false,
  limits: { downloadBytesPerSecond: cfg.downloadBytesPerSecond },
})
await node.start()
const write = (o: object): boolean => process.stdout.write(`${JSON.stringify(o)}\n`)
await node.fetch(cfg.manifestCid, {
  onProgress: (p) => write({ event: 'progress', chunksDone: p.chunksDone, bytesFromPeers: p.bytesFromPeers }),
})
write({ event: 'done', ...node.status().totals })
await node.stop()
