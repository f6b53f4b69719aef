/**
 * Players that give up: a tab closed while the node still waits for the chunk, a seek that
 * drops the response it was reading. 200 of them must leave nothing behind on the node: no
 * open read (which pins content against eviction), no blocked waiter (which the scheduler
 * serves first), no listener on the swarm's signal, no file handle.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { once } from 'node:events'
import type { Socket } from 'node:net'
import { afterEach, describe, expect, it, vi } from 'vitest'
import type { Manifest } from '../../../node/content/index.ts'
import { addContent, Harness, originKey, randomContent, TEST_CHUNK_SIZE, until } from '../utils/harness.ts'
import { type SwarmCounts, swarmInternals } from './introspect.ts'

const CHUNKS = 48
const BATCH = 20

/** {@link until}, naming what was still held when it gives up. */
async function settles(what: string, cond: () => boolean, counts: () => unknown): Promise<void> {
  await until(cond).catch(() => {
    throw new Error(`${what}: not reached, still ${JSON.stringify(counts())}`)
  })
}

/** Open file handles of this process (the node's on-disk store keeps its segments' files open). */
function fileHandles(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'FileHandle').length
}

describe('playback readers that abort', () => {
  const h = new Harness()
  afterEach(async () => {
    vi.restoreAllMocks()
    await h.teardown()
  })

  it('lets go of everything 200 aborted and seeking players held', async () => {
    const key = await originKey()
    const lessons = [randomContent(CHUNKS * TEST_CHUNK_SIZE), randomContent(CHUNKS * TEST_CHUNK_SIZE - 999)]
    // slow enough that most reads wait for their chunk while the player gives up
    const seeder = await h.spawn({ limits: { uploadBytesPerSecond: 512 * 1024 } })
    const manifests: Manifest[] = []
    for (const bytes of lessons) {
      const m = await addContent(seeder.store, bytes, key)
      await seeder.seed(m)
      manifests.push(m)
    }
    const node = await h.spawn({ dataDir: await h.tempDir(), playback: { port: 0 } })
    await h.connect(node, seeder)
    const url = (m: Manifest) => `${node.playbackUrl}/content/${m.cid.toString()}`
    // the node joins both swarms with a first read
    for (const [i, m] of manifests.entries()) {
      const r = await fetch(url(m), { headers: { range: 'bytes=0-0' } })
      expect(Buffer.from(await r.arrayBuffer())[0]).toBe(lessons[i][0])
    }
    const swarms: SwarmCounts[] = manifests.map((m) => swarmInternals(node, m.cid.toString()))
    const stopListenersBefore = swarms.map((s) => s.stopListeners)
    const waiting = () => swarms.reduce((n, s) => n + s.waiting, 0)
    let aborted = 0

    // 1. players that leave while the node waits for their chunk: 5 batches of 20 at once,
    //    each a range within one chunk, spread over both lessons
    for (let batch = 0; batch < 5; batch++) {
      const controllers: AbortController[] = []
      let settled = 0
      const requests = Array.from({ length: BATCH }, (_, j) => {
        const m = manifests[j % 2]
        const index = 1 + ((batch * BATCH + j) % (CHUNKS - 1))
        const start = index * TEST_CHUNK_SIZE + 100
        const abort = new AbortController()
        controllers.push(abort)
        return fetch(url(m), { headers: { range: `bytes=${start}-${start + 99}` }, signal: abort.signal })
          .then(async (r) => await r.arrayBuffer())
          .catch((err: Error) => {
            if (err.name !== 'AbortError') throw err
          })
          .finally(() => settled++)
      })
      // every request is blocked on its chunk, or was answered already
      await settles(
        `batch ${batch} blocked or answered`,
        () => waiting() + settled >= BATCH,
        () => ({ waiting: waiting(), settled, openReads: swarms.map((s) => s.openReads) }),
      )
      for (const c of controllers) c.abort()
      await Promise.all(requests)
      aborted += BATCH
    }

    // 2. players that seek away: a long range whose first bytes they take, then drop (the
    //    seeder at full speed now: the backlog the players of 1 left is not what is tested)
    seeder.setLimits({ uploadBytesPerSecond: Number.POSITIVE_INFINITY })
    for (let batch = 0; batch < 5; batch++) {
      const requests = Array.from({ length: BATCH }, async (_, j) => {
        const m = manifests[(batch + j) % 2]
        const start = ((batch * BATCH + j) % CHUNKS) * TEST_CHUNK_SIZE + 7
        const abort = new AbortController()
        try {
          const r = await fetch(url(m), { headers: { range: `bytes=${start}-` }, signal: abort.signal })
          expect(r.status).toBe(206)
          const reader = r.body!.getReader()
          const first = await reader.read()
          expect(first.done).toBe(false)
          abort.abort()
          await reader.read().catch(() => {})
        } catch (err) {
          if ((err as Error).name !== 'AbortError') throw err
        }
      })
      await Promise.all(requests)
      aborted += BATCH
    }
    expect(aborted).toBe(200)

    // nothing is left: no open reads, no waiters, no priority, no listeners
    await settles(
      'every read over',
      () => swarms.every((s) => s.openReads === 0 && s.waiting === 0),
      () => swarms.map((s) => ({ openReads: s.openReads, waiting: s.waiting })),
    )
    for (const [i, s] of swarms.entries()) {
      expect(s.blockedOn).toBe(0)
      expect(s.stopListeners).toBe(stopListenersBefore[i])
    }

    // 3. the same on content held whole: file handles stay the store's own
    for (const m of manifests) await node.fetch(m.cid)
    for (const [i, m] of manifests.entries()) {
      const whole = await fetch(url(m))
      expect(Buffer.from(await whole.arrayBuffer()).equals(Buffer.from(lessons[i]))).toBe(true)
    }
    const handlesBefore = fileHandles()
    for (let batch = 0; batch < 2; batch++) {
      await Promise.all(
        Array.from({ length: BATCH }, async (_, j) => {
          const abort = new AbortController()
          const r = await fetch(url(manifests[j % 2]), { signal: abort.signal })
          const reader = r.body!.getReader()
          await reader.read()
          abort.abort()
          await reader.read().catch(() => {})
        }),
      )
    }
    await settles(
      'every read over',
      () => swarms.every((s) => s.openReads === 0 && s.waiting === 0),
      () => swarms.map((s) => ({ openReads: s.openReads, waiting: s.waiting })),
    )
    expect(fileHandles()).toBeLessThanOrEqual(handlesBefore)
    for (const [i, s] of swarms.entries()) expect(s.stopListeners).toBe(stopListenersBefore[i])

    // what operators watch for a leak shows none
    const metrics = await (await fetch(`${node.playbackUrl}/metrics`)).text()
    expect(metrics).toContain('dandelion_node_playback_reads 0')

    // and the node still plays
    const after = await fetch(url(manifests[1]), { headers: { range: 'bytes=1000-1999' } })
    expect(Buffer.from(await after.arrayBuffer()).equals(Buffer.from(lessons[1].subarray(1000, 2000)))).toBe(
      true,
    )
  })
  it('lets go of the read when the player leaves just as its first chunk arrives', async () => {
    const key = await originKey()
    const node = await h.spawn({ dataDir: await h.tempDir(), playback: { port: 0 } })
    const bytes = randomContent(4 * TEST_CHUNK_SIZE)
    const m = await addContent(node.store, bytes, key)
    await node.seed(m)
    // the server's side of each request, to cut it at the worst moment
    let socket: Socket | undefined
    const onRequest = (message: unknown): void => {
      socket = (message as { socket: Socket }).socket
    }
    subscribe('http.server.request.start', onRequest)
    const read = node.read.bind(node)
    vi.spyOn(node, 'read').mockImplementation((cid, start, end, options) => {
      const inner = read(cid, start, end, options)
      return (async function* () {
        let first = true
        for await (const bytes of inner) {
          if (first) {
            // the player is gone (its connection closed) by the time its first chunk is handed over
            first = false
            const s = socket!
            s.destroy()
            await once(s, 'close')
            await new Promise((resolve) => setImmediate(resolve))
          }
          yield bytes
        }
      })()
    })
    try {
      for (let i = 0; i < 20; i++)
        await fetch(`${node.playbackUrl}/content/${m.cid.toString()}`)
          .then(async (r) => await r.arrayBuffer())
          .catch(() => {})
    } finally {
      unsubscribe('http.server.request.start', onRequest)
    }
    const swarm = swarmInternals(node, m.cid.toString())
    // each of the 20 reads ended: the content is no longer held against eviction
    await settles(
      'every read over',
      () => swarm.openReads === 0,
      () => ({ openReads: swarm.openReads }),
    )
  })
})
