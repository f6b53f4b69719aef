/**
 * A classroom of players that read slowly: 20 at once on two lessons still arriving from a
 * peer, each pausing its response. The node must read ahead for each only what the
 * response's stream buffers hold (a chunk or two), not the lesson: what it holds in memory
 * per player is counted on the server's own responses, not guessed from wall time.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { get, type IncomingMessage, type ServerResponse } from 'node:http'
import { afterEach, describe, expect, it, vi } from 'vitest'
import type { Manifest } from '../../../node/content/index.ts'
import { addContent, Harness, originKey, randomContent, TEST_CHUNK_SIZE, until } from '../utils/harness.ts'
import { swarmInternals } from './introspect.ts'

const CHUNKS = 32
const PLAYERS = 20

/** One player's response as the node's server sees it. */
interface ServerSide {
  response: ServerResponse
  /** Bytes `node.read` gave this response. */
  pulled: number
  /** Bytes the response was given to write (what left the read-ahead). */
  written: number
}

describe('slow playback readers', () => {
  const h = new Harness()
  const onRequest = (message: unknown): void => {
    const { request, response } = message as { request: { url?: string }; response: ServerResponse }
    const side = responses.get(request.url?.split('?')[1] ?? '')
    if (side === undefined) return
    side.response = response
    const write = response.write.bind(response) as (...args: unknown[]) => boolean
    response.write = ((chunk: Uint8Array, ...rest: unknown[]) => {
      side.written += chunk.byteLength
      return write(chunk, ...rest)
    }) as typeof response.write
  }
  /** By the query each player tags its request with. */
  const responses = new Map<string, ServerSide>()
  afterEach(async () => {
    unsubscribe('http.server.request.start', onRequest)
    responses.clear()
    vi.restoreAllMocks()
    await h.teardown()
  })

  it('holds a chunk or two per paused player, not the lesson, and every player gets the right bytes', async () => {
    const key = await originKey()
    const seeder = await h.spawn()
    const lessons = [
      randomContent(CHUNKS * TEST_CHUNK_SIZE),
      randomContent(CHUNKS * TEST_CHUNK_SIZE - 12_345),
    ]
    const manifests: Manifest[] = []
    for (const bytes of lessons) {
      const m = await addContent(seeder.store, bytes, key)
      await seeder.seed(m)
      manifests.push(m)
    }
    const node = await h.spawn({ dataDir: await h.tempDir(), playback: { port: 0 } })
    await h.connect(node, seeder)
    subscribe('http.server.request.start', onRequest)
    // what `node.read` hands each response, by its range's first byte and lesson
    const read = node.read.bind(node)
    const pulledBy = new Map<string, ServerSide>()
    vi.spyOn(node, 'read').mockImplementation((cid, start, end, options) => {
      const inner = read(cid, start, end, options)
      const side = pulledBy.get(`${cid.toString()}:${start}`)
      return (async function* () {
        for await (const bytes of inner) {
          if (side !== undefined) side.pulled += bytes.byteLength
          yield bytes
        }
      })()
    })

    // players 0-9 on the first lesson, 10-19 on the second; pairs start in the same chunk
    const players = Array.from({ length: PLAYERS }, (_, i) => {
      const lesson = i < PLAYERS / 2 ? 0 : 1
      const start =
        (Math.floor((i % (PLAYERS / 2)) / 2) * 3 * TEST_CHUNK_SIZE + (i % 2) * 1000) % (8 * TEST_CHUNK_SIZE)
      const side: ServerSide = { response: undefined as unknown as ServerResponse, pulled: 0, written: 0 }
      const tag = `player=${i}`
      responses.set(tag, side)
      pulledBy.set(`${manifests[lesson].cid.toString()}:${start}`, side)
      return { lesson, start, side, tag }
    })
    const paused = await Promise.all(
      players.map(
        (p) =>
          new Promise<IncomingMessage>((resolve, reject) => {
            const req = get(
              `${node.playbackUrl}/content/${manifests[p.lesson].cid.toString()}?${p.tag}`,
              { headers: { range: `bytes=${p.start}-` }, agent: false },
              (res) => {
                // the player pauses at once: nothing it is sent is read until it resumes
                res.pause()
                resolve(res)
              },
            )
            req.on('error', reject)
          }),
      ),
    )
    for (const res of paused) expect(res.statusCode).toBe(206)

    // every response stalls on its paused player: its writes wait for a drain (or it was
    // all written: loopback's kernel buffers, autotuned up to tens of MiB, may take a whole
    // range), nobody waits on the network, and the read-ahead stops growing
    const stalled = (p: (typeof players)[number]): boolean =>
      p.side.response?.writableNeedDrain === true || p.side.response?.writableEnded === true
    let last = -1
    let steady = 0
    await until(() => {
      const total = players.reduce((n, p) => n + p.side.pulled, 0)
      const still =
        players.every(stalled) && manifests.every((m) => swarmInternals(node, m.cid.toString()).waiting === 0)
      steady = still && total === last ? steady + 1 : 0
      last = total
      return steady >= 10
    }).catch(() => {
      throw new Error(
        `responses not stalled: ${JSON.stringify(
          players
            .filter((p) => !stalled(p))
            .map((p) => ({ tag: p.tag, pulled: p.side.pulled, written: p.side.written })),
        )}, waiting ${manifests.map((m) => swarmInternals(node, m.cid.toString()).waiting)}`,
      )
    })
    for (const p of players) {
      const { response, pulled, written } = p.side
      // in memory for this player: read but not yet written, plus written but still queued
      const held = pulled - written + response.writableLength
      expect(held, `player ${p.tag}`).toBeLessThanOrEqual(3 * TEST_CHUNK_SIZE)
    }
    // nobody is blocked on a chunk: each read waits on its player, not on the network
    for (const [i, m] of manifests.entries()) {
      const s = swarmInternals(node, m.cid.toString())
      expect(s.waiting).toBe(0)
      // a read is open for each player not sent all of its range yet
      const open = players.filter((p) => p.lesson === i && p.side.response.writableEnded !== true)
      expect(s.openReads).toBe(open.length)
    }
    const reading = players.filter((p) => p.side.response.writableEnded !== true).length
    const metrics = await (await fetch(`${node.playbackUrl}/metrics`)).text()
    expect(metrics).toContain(`dandelion_node_playback_reads ${reading}`)

    // the players resume: each gets exactly its bytes
    await Promise.all(
      paused.map(async (res, i) => {
        const parts: Buffer[] = []
        res.on('data', (b: Buffer) => parts.push(b))
        res.resume()
        await new Promise<void>((resolve, reject) => {
          res.on('end', resolve)
          res.on('error', reject)
        })
        const { lesson, start } = players[i]
        expect(Buffer.concat(parts).equals(Buffer.from(lessons[lesson].subarray(start)))).toBe(true)
      }),
    )
    for (const m of manifests) await until(() => swarmInternals(node, m.cid.toString()).openReads === 0)
  })
})
