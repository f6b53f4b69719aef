/**
 * A node in a child process for kill/restart tests. Reads its config from the
 * DANDELION_TEST_CHILD env variable (JSON: dataDir, bootstrap, manifestCid, downloadBytesPerSecond,
 * resumeOnly), fetches the manifest and prints one JSON line per progress event and a final
 * `done` line. With `resumeOnly` it does not ask for the manifest: it waits for the node to
 * finish, by itself, the download an earlier run left unfinished. Once the fetch is asked
 * for it prints a `fetching` line with the store's pins, when the download is recorded on
 * disk (its `want:` pin written), when the fetch ends, or after 2 s.
 */
import { createNode } from '../../../node/index.ts'

const cfg = JSON.parse(process.env.DANDELION_TEST_CHILD ?? '{}') as {
  dataDir: string
  bootstrap: string[]
  manifestCid: string
  downloadBytesPerSecond?: number
  resumeOnly?: boolean
}
const node = await createNode({
  dataDir: cfg.dataDir,
  bootstrap: cfg.bootstrap,
  dht: false,
  limits: { downloadBytesPerSecond: cfg.downloadBytesPerSecond },
})
await node.start()
const write = (o: object): boolean => process.stdout.write(`${JSON.stringify(o)}\n`)
if (cfg.resumeOnly === true) {
  for (;;) {
    const swarm = node.status().swarms.find((s) => s.manifestCid === cfg.manifestCid)
    if (swarm !== undefined) write({ event: 'progress', chunksDone: swarm.chunksDone, bytesFromPeers: 0 })
    if (swarm?.complete === true) break
    await new Promise((r) => setTimeout(r, 50))
  }
} else {
  let recorded = false
  const fetching = node.fetch(cfg.manifestCid, {
    onProgress: (p) =>
      write({ event: 'progress', chunksDone: p.chunksDone, bytesFromPeers: p.bytesFromPeers }),
    onRecorded: () => (recorded = true),
  })
  let settled = false
  fetching.finally(() => (settled = true)).catch(() => {})
  const asked = Date.now()
  while (!recorded && !settled && Date.now() - asked < 2000) await new Promise((r) => setTimeout(r, 10))
  write({ event: 'fetching', pins: node.store.pins() })
  await fetching
}
write({ event: 'done', ...node.status().totals })
await node.stop()
