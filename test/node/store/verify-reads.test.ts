import { randomBytes } from 'node:crypto'
import { mkdtemp, open, rm, truncate } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { CID } from 'multiformats/cid'
import { afterEach, describe, expect, it } from 'vitest'
import { chunkCid, type Manifest } from '../../../node/content/index.ts'
import type { FsChunkStore as FsChunkStoreType } from '../../../node/store/index.ts'
import { FsChunkStore } from '../../../node/store/index.ts'
import { addContent, Harness, originKey, randomContent, until } from '../utils/harness.ts'

const dirs: string[] = []
const h = new Harness()
afterEach(async () => {
  await h.teardown()
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })))
})

async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'dandelion-verify-reads-'))
  dirs.push(d)
  return d
}

/** Overwrites `bytes.length` bytes of a file at `offset`, as a failing disk might. */
async function overwrite(path: string, offset: number, bytes: Uint8Array): Promise<void> {
  const fh = await open(path, 'r+')
  try {
    await fh.write(bytes, 0, bytes.byteLength, offset)
  } finally {
    await fh.close()
  }
}

const same = (a: Uint8Array, b: Uint8Array): boolean => Buffer.from(a).equals(Buffer.from(b))

describe('FsChunkStore reads verify', () => {
  it('drops a chunk whose bytes changed on disk instead of returning them, and takes it back when stored again', async () => {
    const dir = await tempDir()
    const store = new FsChunkStore({ dir })
    await store.start()
    const flipped = new Uint8Array(randomBytes(5000))
    const zeroed = new Uint8Array(randomBytes(5000))
    const intact = new Uint8Array(randomBytes(5000))
    const a = await store.add(flipped)
    const b = await store.add(zeroed)
    const c = await store.add(intact)
    await store.pin('lesson', [a, c])
    const whereA = store.locate(a)!
    const whereB = store.locate(b)!
    await store.stop()

    // bit rot in one chunk; a tail a power cut left as zeros in another
    await overwrite(whereA.path, whereA.offset + 1234, new Uint8Array([flipped[1234] ^ 0x01]))
    await overwrite(whereB.path, whereB.offset + 4000, new Uint8Array(1000))

    const again = new FsChunkStore({ dir })
    await again.start()
    for (const cid of [a, b]) {
      await expect(again.get(cid)).rejects.toMatchObject({ name: 'ChunkNotFoundError' })
      expect(await again.has(cid)).toBe(false)
    }
    expect(same(await again.get(c), intact)).toBe(true)
    expect(again.usage()).toMatchObject({ chunks: 1, bytes: 5000 })
    // the pin outlives the corrupt copy: the chunk fetched again is pinned again
    await again.put(a, flipped)
    expect(same(await again.get(a), flipped)).toBe(true)
    expect(again.isPinned(a)).toBe(true)
    expect(again.usage()).toMatchObject({ chunks: 2, bytes: 10000, pinnedBytes: 10000 })
    await again.stop()

    // what was dropped stays dropped after a restart; what was stored again stays
    const third = new FsChunkStore({ dir })
    await third.start()
    expect(await third.has(b)).toBe(false)
    expect(same(await third.get(a), flipped)).toBe(true)
    expect(third.usage()).toMatchObject({ chunks: 2, bytes: 10000 })
    await third.stop()
  })

  it('reports a chunk cut short under a running store as not found, not as a store failure', async () => {
    const dir = await tempDir()
    const store = new FsChunkStore({ dir })
    await store.start()
    const bytes = new Uint8Array(randomBytes(5000))
    const cid = chunkCid(bytes)
    await store.put(cid, bytes)
    const where = store.locate(cid)!
    await truncate(where.path, where.offset + 100)
    await expect(store.get(cid)).rejects.toMatchObject({ name: 'ChunkNotFoundError' })
    expect(await store.has(cid)).toBe(false)
    await store.put(cid, bytes)
    expect(same(await store.get(cid), bytes)).toBe(true)
    await store.stop()
  })

  it('a node fetches a chunk that rotted on its disk again instead of playing it', async () => {
    const { bytes, manifest, init } = await rotted(4, (m) => m.chunks[1], 256 * 1024 + 100)
    const node = await h.spawn(init)
    const res = await fetch(`${node.playbackUrl}/content/${manifest.cid.toString()}`)
    expect(res.status).toBe(200)
    expect(same(new Uint8Array(await res.arrayBuffer()), bytes)).toBe(true)
    expect(same(await node.store.get(manifest.chunks[1]), bytes.subarray(256 * 1024, 512 * 1024))).toBe(true)
  })

  it('a node whose stored manifest rotted fetches it again from a peer instead of failing the lesson', async () => {
    const { bytes, manifest, init } = await rotted(2, (m) => m.cid, 10)
    const node = await h.spawn(init)
    const res = await fetch(`${node.playbackUrl}/content/${manifest.cid.toString()}`)
    expect(res.status).toBe(200)
    expect(same(new Uint8Array(await res.arrayBuffer()), bytes)).toBe(true)
    expect(same(await node.store.get(manifest.cid), manifest.bytes)).toBe(true)
  })

  it('a campus node that finds a chunk rotted while serving it counts it missing, and its next fetch brings it back', async () => {
    const { bytes, manifest, source, dataDir } = await rotted(4, (m) => m.chunks[2], 2 * 256 * 1024 + 7)
    // restarted, it seeds what it holds; a lamp asking for the lesson hits the rotted chunk
    const campus = await h.spawn({ dataDir })
    const lamp = await h.spawn({ role: 'device' })
    await h.connect(lamp, campus)
    const attempt = lamp.fetch(manifest.cid, { signal: AbortSignal.timeout(20_000) }).catch(() => undefined)
    const status = () => campus.status().swarms.find((s) => s.manifestCid === manifest.cid.toString())
    await until(() => status()?.complete === false)
    expect(status()?.chunksDone).toBe(3)
    // the campus node's next fetch takes the chunk again from a peer that has it
    await h.connect(campus, source)
    await campus.fetch(manifest.cid)
    expect(
      same(await campus.store.get(manifest.chunks[2]), bytes.subarray(2 * 256 * 1024, 3 * 256 * 1024)),
    ).toBe(true)
    await attempt
  })
})

/**
 * A lesson of `chunks` chunks fetched by a node with a data directory, that node stopped,
 * and one byte flipped on its disk in the block `which` picks, at `offset` within the
 * lesson (or within the manifest, when `which` picks it). `init` restarts the node with
 * the source as its bootstrap peer.
 */
async function rotted(chunks: number, which: (m: Manifest) => CID, offset: number) {
  const key = await originKey()
  const bytes = randomContent(chunks * 256 * 1024)
  const source = await h.spawn()
  const manifest = await addContent(source.store, bytes, key)
  await source.seed(manifest)
  const dataDir = await h.tempDir()
  const init = { dataDir, playback: { port: 0 }, bootstrap: [source.multiaddrs[0].toString()] }
  const first = await h.spawn(init)
  await first.fetch(manifest.cid)
  const block = which(manifest)
  const where = (first.store as FsChunkStoreType).locate(block)!
  await first.stop()
  const original = block.equals(manifest.cid) ? manifest.bytes[offset] : bytes[offset]
  const within = block.equals(manifest.cid) ? offset : offset % (256 * 1024)
  await overwrite(where.path, where.offset + within, new Uint8Array([original ^ 0xff]))
  return { bytes, manifest, source, dataDir, init }
}
