/**
 * The origin holds the only full copy of every lesson until campuses have it. Its seeding
 * node scrubs the origin's store when asked to (as `dandelion origin` does): a chunk the
 * origin's disk changed is dropped and fetched back from a campus node that holds it, so the
 * origin serves it whole again.
 */
import { open } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import type { FsChunkStore } from '../../node/store/index.ts'
import { loadOriginConfig } from '../../origin/config.ts'
import { Harness, randomContent, TEST_CHUNK_SIZE, until } from '../node/utils/harness.ts'
import { startOrigin } from '../node/utils/origin.ts'

const h = new Harness()
afterEach(async () => await h.teardown())

describe("the origin's seeding node scrubbing the origin's store", () => {
  it('finds a chunk the origin disk changed and fetches it back from a campus node', async () => {
    const dir = await h.tempDir()
    const o = await startOrigin(h, { scrub: { intervalMs: 0, file: join(dir, 'scrub.json') } })
    try {
      const bytes = randomContent(3 * TEST_CHUNK_SIZE)
      const published = await o.publish(bytes)
      const m = await o.origin.manifest(published.manifestCid)
      const campus = await h.spawn()
      await h.connect(campus, o.seeder.node)
      await campus.fetch(m.cid)

      // bit rot in the origin's only copy of the second chunk
      const where = (o.origin.store as FsChunkStore).locate(m.chunks[1])!
      const fh = await open(where.path, 'r+')
      const byte = new Uint8Array(1)
      await fh.read(byte, 0, 1, where.offset + 7)
      byte[0] ^= 0x80
      await fh.write(byte, 0, 1, where.offset + 7)
      await fh.close()

      expect(await o.seeder.node.scrub()).toMatchObject({ corruptFound: 1 })
      await until(async () => await o.origin.store.has(m.chunks[1]))
      const res = await fetch(`${o.origin.url}/chunks/${m.chunks[1].toString()}`)
      expect(res.status).toBe(200)
      const chunk = Buffer.from(await res.arrayBuffer())
      expect(chunk.equals(Buffer.from(bytes.subarray(TEST_CHUNK_SIZE, 2 * TEST_CHUNK_SIZE)))).toBe(true)
      // it came back from the campus node
      expect(o.seeder.node.status().totals.bytesFromPeers).toBe(TEST_CHUNK_SIZE)
    } finally {
      await o.close()
    }
  })

  it('takes its schedule and rate from the origin settings', async () => {
    expect(await loadOriginConfig({}, {})).toMatchObject({
      scrubIntervalHours: 168,
      scrubRate: 8 * 1024 * 1024,
    })
    expect(
      await loadOriginConfig({ scrubRate: '1048576' }, { DANDELION_ORIGIN_SCRUB_INTERVAL_HOURS: '0' }),
    ).toMatchObject({ scrubIntervalHours: 0, scrubRate: 1048576 })
    await expect(loadOriginConfig({ scrubRate: '1' }, {})).rejects.toThrow(
      /scrubRate must be >= 65536 \(--scrub-rate, DANDELION_ORIGIN_SCRUB_RATE, "scrubRate"\)/,
    )
  })
})
