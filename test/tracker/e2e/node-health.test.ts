/**
 * End to end: real nodes from `createNode` with on-disk stores, each driven by its agent, a
 * real origin and a real tracker on disk. A second lesson released to a node whose quota
 * holds only the first fails there; its store's refusals reach the tracker in the node's
 * health report, and the tracker lists it under `?attention=true` with the reason. A node whose disk is
 * under its floor is listed with `disk-low`. Nothing is scraped from the nodes.
 */
import { randomBytes } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { afterEach, describe, expect, it } from 'vitest'
import { nodeContentApi } from '../../../node/agent/index.ts'
import { createNode, type DandelionNode, type DandelionNodeInit } from '../../../node/index.ts'
import { createOrigin, type Origin } from '../../../origin/index.ts'
import { Harness, until } from '../harness.ts'
import { metric } from '../wire.ts'

const h = new Harness()
const nodes: DandelionNode[] = []
let origin: Origin | undefined
afterEach(async () => {
  await h.teardown()
  await Promise.allSettled(nodes.splice(0).map((n) => n.stop()))
  await origin?.close()
})

const MiB = 1024 * 1024

describe('node health from real nodes', () => {
  it('a node whose store refuses a lesson, and one whose disk is under its floor, need attention', {
    timeout: 60_000,
  }, async () => {
    const t = await h.tracker({ dataDir: await h.tmp() })
    await h.api(t, 'POST', '/cities', { id: 'bj', name: 'Beijing' })
    await h.api(t, 'POST', '/campuses', { id: 'bj-1', city: 'bj', name: 'BJ one' })
    origin = await createOrigin({
      dataDir: await h.tmp('health-origin-'),
      token: 'origin-token',
      port: 0,
      chunkSize: 256 * 1024,
      hashWorkers: 1,
      minFreeDiskBytes: 0,
    })
    const files = await h.tmp('health-files-')
    // two lessons of 800 KiB: one fits a 1 MiB quota, both do not
    for (const name of ['lesson', 'slides']) {
      const file = join(files, `${name}.mp4`)
      await writeFile(file, randomBytes(800 * 1024))
      const published = await origin.ingestFile(file, { name, type: 'video', mime: 'video/mp4' })
      await h.api(t, 'POST', `/resources/${name}/versions`, {
        version: 1,
        manifestCid: published.manifestCid,
        size: 800 * 1024,
        type: 'video',
      })
      await h.api(t, 'POST', `/resources/${name}/versions/1/approve`)
    }

    const start = async (id: string, init: DandelionNodeInit): Promise<DandelionNode> => {
      const key = await generateKeyPair('Ed25519')
      const node = await createNode({
        privateKey: key,
        dataDir: await h.tmp('health-node-'),
        campus: 'bj-1',
        city: 'bj',
        originUrl: origin!.url,
        trustedOrigins: [origin!.publicKey],
        dht: false,
        fallbackIdleMs: 100,
        ...init,
      })
      await node.start()
      nodes.push(node)
      const { agent } = await h.agent([t.channelUrl], id, {
        campus: 'bj-1',
        key,
        content: nodeContentApi(node),
        init: { healthCheckMs: 50 },
      })
      await until(() => agent.connected, `${id} connected`)
      return node
    }
    // room for one lesson, not two: the tracker placed (pinned) the first, nothing to evict
    await start('small', { quotaBytes: 1024 * 1024 })
    // a 1 GiB floor on a disk with 512 MiB free
    await start('low', { minFreeDiskBytes: 1024 * MiB, freeDiskBytes: () => 512 * MiB })
    await start('fine', {})
    await until(async () => t.channel.health.size === 3, 'three reports')
    const fine = (await h.api(t, 'GET', '/nodes/fine')).health
    // what the node's status says of its store and disk
    expect(fine.store).toMatchObject({ bytes: 0, quotaBytes: null, refusedWrites: 0 })
    expect(fine.disk.freeBytes).toBeGreaterThan(0)
    expect(fine.attention).toEqual([])
    expect((await h.api(t, 'GET', '/nodes/small')).health.store.quotaBytes).toBe(1024 * 1024)

    const release = async (resource: string, nodeIds: string[], failed: number): Promise<void> => {
      const rel = await h.api(t, 'POST', '/releases', { resource, version: 1, targets: { nodes: nodeIds } })
      await until(async () => {
        const s = await h.api(t, 'GET', `/releases/${rel.id}`)
        return s.counts.failed === failed && s.counts.active === nodeIds.length - failed
      }, `${resource}: ${failed} failed`)
    }
    // `low` refuses the lesson at its floor; then `small`, full of the lesson, refuses the slides
    await release('lesson', ['small', 'low', 'fine'], 1)
    await release('slides', ['small', 'fine'], 1)
    await until(
      async () => (await h.api(t, 'GET', '/nodes?attention=true')).nodes.length === 2,
      'two nodes needing attention',
    )
    const { nodes: listed } = await h.api(t, 'GET', '/nodes?attention=true')
    const by = Object.fromEntries(listed.map((n: { id: string; health: unknown }) => [n.id, n.health]))
    expect(Object.keys(by)).toEqual(['low', 'small'])
    expect(by.small.attention).toEqual(['store-refusing'])
    expect(by.small.store.refusedWrites).toBeGreaterThan(0)
    expect(by.small.store.pinnedBytes).toBeGreaterThanOrEqual(800 * 1024)
    expect(by.low.attention).toEqual(['disk-low', 'store-refusing'])
    expect(by.low.disk).toEqual({ freeBytes: 512 * MiB, minFreeBytes: 1024 * MiB })
    expect(await metric(t, 'dandelion_tracker_nodes_attention{reason="store-refusing"}')).toBe(2)
    expect(await metric(t, 'dandelion_tracker_nodes_attention{reason="disk-low"}')).toBe(1)
  })
})
