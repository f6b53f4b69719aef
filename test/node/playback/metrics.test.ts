import { statfsSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import type { Manifest } from '../../../node/content/index.ts'
import type { DandelionNode } from '../../../node/index.ts'
import { addContent, Harness, originKey, randomContent } from '../utils/harness.ts'

const MiB = 1024 * 1024

/** A sample's value as the exposition format writes it (`+Inf` included). */
function sampleValue(text: string): number {
  if (text === '+Inf') return Number.POSITIVE_INFINITY
  if (text === '-Inf') return Number.NEGATIVE_INFINITY
  return Number(text)
}

/** The families of a Prometheus text exposition (format 0.0.4), checked line by line. */
function parseExposition(text: string): Map<string, { type?: string; help?: string; series: string[] }> {
  const families = new Map<string, { type?: string; help?: string; series: string[] }>()
  const family = (name: string) => {
    const f = families.get(name) ?? { series: [] }
    families.set(name, f)
    return f
  }
  for (const line of text.split('\n')) {
    if (line === '') continue
    const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.+)$/.exec(line)
    if (meta !== null) {
      if (meta[1] === 'HELP') family(meta[2]).help = meta[3]
      else family(meta[2]).type = meta[3]
      continue
    }
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$/.exec(line)
    if (sample === null) throw new Error(`not an exposition line: ${line}`)
    expect(Number.isNaN(sampleValue(sample[3])), line).toBe(false)
    family(sample[1]).series.push(sample[1] + (sample[2] ?? ''))
  }
  return families
}

describe('playback /metrics', () => {
  const h = new Harness()
  afterEach(async () => await h.teardown())

  it('exposes totals as counters, each family typed and described, no series twice', async () => {
    const key = await originKey()
    const node = await h.spawn({ playback: { port: 0 } })
    await node.seed(await addContent(node.store, randomContent(300_000), key))
    await node.seed(await addContent(node.store, randomContent(200_000), key))
    const response = await fetch(`${node.playbackUrl}/metrics`)
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toMatch(/^text\/plain/)
    const families = parseExposition(await response.text())

    expect(families.get('dandelion_node_swarm_progress_ratio')?.series).toHaveLength(2)
    for (const [name, f] of families) {
      expect(f.help, name).toBeTruthy()
      // Prometheus naming: `_total` is a counter's suffix, and only a counter's
      expect(f.type, name).toBe(name.endsWith('_total') ? 'counter' : 'gauge')
      expect(new Set(f.series).size, name).toBe(f.series.length)
    }
    expect(families.get('dandelion_node_bytes_from_peers_total')?.type).toBe('counter')
  })

  /** The value of the unlabelled series `name` at a scrape of `node`'s `/metrics`; undefined when not exported. */
  async function metric(node: DandelionNode, name: string): Promise<number | undefined> {
    const text = await (await fetch(`${node.playbackUrl}/metrics`)).text()
    const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text)
    return m === null ? undefined : sampleValue(m[1])
  }

  /** Bytes a fetched manifest takes in a store: its chunks and the manifest itself. */
  const stored = (m: Manifest): number => m.size + m.bytes.byteLength

  /** A seeder holding two lessons of `size` bytes. */
  async function seederWith(size: number): Promise<{ seeder: DandelionNode; lessons: Manifest[] }> {
    const key = await originKey()
    const seeder = await h.spawn()
    const lessons: Manifest[] = []
    for (const name of ['week1', 'week2']) {
      const m = await addContent(seeder.store, randomContent(size), key, { name })
      await seeder.seed(m)
      lessons.push(m)
    }
    return { seeder, lessons }
  }

  it("reports an on-disk store's bytes, pinned bytes, quota, limit and refusals, and its disk", async () => {
    const { seeder, lessons } = await seederWith(600_000)
    const [week1, week2] = lessons
    // room for one lesson, not two
    const quota = stored(week1) + 300_000
    const dataDir = await h.tempDir()
    const node = await h.spawn({ role: 'campus', dataDir, quotaBytes: quota, playback: { port: 0 } })
    await h.connect(node, seeder)
    await node.fetch(week1.cid)
    expect(await metric(node, 'dandelion_node_store_bytes')).toBe(stored(week1))
    // done: no longer held by its download
    expect(await metric(node, 'dandelion_node_store_pinned_bytes')).toBe(0)
    expect(await metric(node, 'dandelion_node_store_quota_bytes')).toBe(quota)
    // no floor: the quota is the limit
    expect(await metric(node, 'dandelion_node_store_limit_bytes')).toBe(quota)
    expect(await metric(node, 'dandelion_node_store_refused_writes_total')).toBe(0)
    // the disk it is on, read with statfs as `df` does (other writers may move it a little)
    const s = statfsSync(join(dataDir, 'store'))
    const free = await metric(node, 'dandelion_node_disk_free_bytes')
    expect(free).toBeGreaterThan(0)
    expect(Math.abs(free! - s.bavail * s.bsize)).toBeLessThan(256 * MiB)
    expect(await metric(node, 'dandelion_node_min_free_disk_bytes')).toBe(0)

    // what a release keeps placed
    await node.pin(week1.cid)
    expect(await metric(node, 'dandelion_node_store_pinned_bytes')).toBe(stored(week1))
    // no room beside it: the store refuses week2, and says so
    await expect(node.fetch(week2.cid)).rejects.toMatchObject({ name: 'StoreWriteError' })
    expect(await metric(node, 'dandelion_node_store_refused_writes_total')).toBeGreaterThan(0)
    expect(await metric(node, 'dandelion_node_store_pinned_bytes')).toBe(stored(week1))
  })

  it("reports the limit its disk's free-space floor sets, and the free space it reads", async () => {
    const { seeder, lessons } = await seederWith(4 * MiB)
    const [week1, week2] = lessons
    // a disk of 10 MiB that only this store fills, 3 MiB kept free: room for 7 MiB, one lesson
    let node: DandelionNode | undefined
    const disk = 10 * MiB
    let reads = 0
    node = await h.spawn({
      role: 'campus',
      dataDir: await h.tempDir(),
      minFreeDiskBytes: 3 * MiB,
      freeDiskBytes: () => {
        reads++
        return disk - (node?.store.usage().bytes ?? 0)
      },
      playback: { port: 0 },
    })
    // no quota: +Inf, which Prometheus compares as any number
    expect(await metric(node, 'dandelion_node_store_quota_bytes')).toBe(Number.POSITIVE_INFINITY)
    expect(await metric(node, 'dandelion_node_min_free_disk_bytes')).toBe(3 * MiB)
    expect(await metric(node, 'dandelion_node_disk_free_bytes')).toBe(disk)
    await h.connect(node, seeder)
    await node.fetch(week1.cid)
    await node.pin(week1.cid)
    expect(await metric(node, 'dandelion_node_store_limit_bytes')).toBe(7 * MiB)
    expect(await metric(node, 'dandelion_node_store_pinned_bytes')).toBe(stored(week1))
    await expect(node.fetch(week2.cid)).rejects.toMatchObject({ name: 'StoreWriteError' })
    expect(await metric(node, 'dandelion_node_store_refused_writes_total')).toBeGreaterThan(0)
    // the floor's last reading, taken as the store wrote (8 MiB or 5 s apart at most): a
    // scrape soon after reads no disk of its own, and two in a row read it once at most
    const before = reads
    const free = await metric(node, 'dandelion_node_disk_free_bytes')
    expect(await metric(node, 'dandelion_node_disk_free_bytes')).toBe(free)
    expect(reads - before).toBeLessThanOrEqual(1)
    expect(free).toBeLessThanOrEqual(disk)
    expect(free).toBeGreaterThanOrEqual(disk - node.store.usage().bytes)
  })

  it('exports no disk gauges for a store in memory', async () => {
    const node = await h.spawn({ playback: { port: 0 } })
    expect(await metric(node, 'dandelion_node_store_bytes')).toBe(0)
    expect(await metric(node, 'dandelion_node_disk_free_bytes')).toBeUndefined()
    expect(await metric(node, 'dandelion_node_min_free_disk_bytes')).toBeUndefined()
  })
})
