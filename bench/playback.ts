/**
 * `npm run bench -- playback [--mib 256] [--chunk-kib 1024] [--cold 20] [--seeks 30]`
 *
 * Time to first byte of HTTP Range reads from a node's playback server for content that
 * is not on the node yet and comes from a peer (loopback, uncapped):
 * - cold: a fresh node, manifest unknown: the read finds the manifest and the chunk from the peer;
 * - seek: the manifest is known, the chunk at the new position is not held.
 * A node that only plays content streams it (what readers wait for plus look-ahead); it
 * replicates the whole file only when asked to `fetch`.
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { createNode, type DandelionNode } from '../node/index.ts'
import { MemoryChunkStore } from '../node/store/index.ts'
import { printTable, writeResults } from './lib/report.ts'
import { generateContent, MiB, numberArgs } from './swarm/common.ts'

const a = numberArgs({ mib: 256, 'chunk-kib': 1024, cold: 20, seeks: 30 })
const size = a.mib * MiB
const chunkSize = a['chunk-kib'] * 1024

/** Milliseconds until the first body byte of a Range request. */
async function ttfb(url: string, start: number): Promise<number> {
  const t0 = performance.now()
  const res = await fetch(url, { headers: { range: `bytes=${start}-${start + 64 * 1024 - 1}` } })
  if (res.status !== 206) throw new Error(`status ${res.status}`)
  const reader = res.body!.getReader()
  await reader.read()
  const ms = performance.now() - t0
  await reader.cancel()
  return ms
}

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((x, y) => x - y)
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]
}

const key = await generateKeyPair('Ed25519')
const store = new MemoryChunkStore()
await store.start()
const manifest = await generateContent(store, size, chunkSize, key)
const seeder = await createNode({ store, dht: false })
await seeder.start()
await seeder.seed(manifest)
const cid = manifest.cid.toString()
const randomOffset = (): number => Math.floor(Math.random() * size)

const cold: number[] = []
for (let i = 0; i < a.cold; i++) {
  const node = await createNode({ dht: false, playback: { port: 0 } })
  await node.start()
  await node.libp2p.dial(seeder.multiaddrs[0])
  cold.push(await ttfb(`${node.playbackUrl}/content/${cid}`, randomOffset()))
  await node.stop()
}

const seeks: number[] = []
const node: DandelionNode = await createNode({ dht: false, playback: { port: 0 } })
await node.start()
await node.libp2p.dial(seeder.multiaddrs[0])
await ttfb(`${node.playbackUrl}/content/${cid}`, 0)
for (let tries = 0; seeks.length < a.seeks && tries < 10_000; tries++) {
  const offset = randomOffset()
  if (await node.store.has(manifest.chunks[Math.floor(offset / chunkSize)])) continue
  seeks.push(await ttfb(`${node.playbackUrl}/content/${cid}`, offset))
}
await node.stop()
await seeder.stop()

const figures = {
  file_mib: a.mib,
  chunk_kib: a['chunk-kib'],
  cold_reads: cold.length,
  seeks: seeks.length,
  ttfb_ms_p50: pct(cold, 50),
  ttfb_ms_p99: pct(cold, 99),
  seek_ms_p50: pct(seeks, 50),
  seek_ms_p99: pct(seeks, 99),
  process_model: 'seeder and player node in one process, loopback, uncapped',
}
printTable('playback: time to first byte of Range reads, content from a peer', [
  {
    case: 'cold (manifest + chunk from peer)',
    n: cold.length,
    p50_ms: figures.ttfb_ms_p50,
    p99_ms: figures.ttfb_ms_p99,
  },
  {
    case: 'seek (chunk from peer)',
    n: seeks.length,
    p50_ms: figures.seek_ms_p50,
    p99_ms: figures.seek_ms_p99,
  },
])
process.stdout.write(`wrote ${writeResults('playback', figures)}\n`)
