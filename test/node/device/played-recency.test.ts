/**
 * A lamp's cache keeps the lessons used last, and a lesson is in use for as long as a class
 * plays it: one placed while the class watched was used before the lesson ended, so it is
 * the one that goes when the lamp next needs room — not the lesson the class just finished.
 */
import { afterEach, describe, expect, it } from 'vitest'
import type { Manifest } from '../../../node/content/index.ts'
import type { DandelionNode } from '../../../node/index.ts'
import { swarmInternals } from '../playback/introspect.ts'
import { addContent, Harness, originKey, randomContent, until } from '../utils/harness.ts'

const MiB = 1024 * 1024
const h = new Harness()
afterEach(async () => await h.teardown())

async function held(node: DandelionNode, m: Manifest): Promise<number> {
  return (await Promise.all(m.chunks.map(async (c) => await node.store.has(c)))).filter(Boolean).length
}

/** Waits for the wall clock (what the order of use records) to move past now. */
async function clockMoves(): Promise<void> {
  const now = Date.now()
  await until(() => Date.now() > now, 5_000)
}

describe('the order of use of a lamp cache', () => {
  it('a lesson played to its end while another was placed outlasts that one when room is made', async () => {
    const key = await originKey()
    const seeder = await h.spawn()
    // more than the sockets between lamp and player buffer: the read stays open while the class watches
    const playedBytes = randomContent(24 * MiB)
    const played = await addContent(seeder.store, playedBytes, key, { name: 'played' })
    const placed = await addContent(seeder.store, randomContent(MiB), key, { name: 'placed' })
    const next = await addContent(seeder.store, randomContent(MiB), key, { name: 'next' })
    for (const m of [played, placed, next]) await seeder.seed(m)
    // room for the played lesson and one more
    const lamp = await h.spawn({ role: 'device', quotaBytes: 25.5 * MiB, playback: { port: 0 } })
    await h.connect(lamp, seeder)
    await lamp.fetch(played.cid)

    // the class starts the lesson and watches (the response is open, read as it plays)...
    const res = await fetch(`${lamp.playbackUrl}/content/${played.cid.toString()}`, {
      signal: AbortSignal.timeout(15_000),
    })
    expect(res.status).toBe(200)
    const reader = res.body!.getReader()
    const parts: Uint8Array[] = [(await reader.read()).value!]
    // ...while the tracker places another lesson on the lamp
    await clockMoves()
    await lamp.fetch(placed.cid)
    await clockMoves()
    // the lesson is still playing: its read is open
    const reads = swarmInternals(lamp, played.cid.toString())
    expect(reads.openReads).toBe(1)
    // the class watches to the end
    for (let r = await reader.read(); r.done !== true; r = await reader.read()) parts.push(r.value)
    expect(Buffer.concat(parts).equals(Buffer.from(playedBytes))).toBe(true)
    // the player has every byte; the node's read ends just after
    await until(() => reads.openReads === 0, 5_000)
    await clockMoves()

    // the next placement needs room for one lesson: the least recently used one goes
    await lamp.fetch(next.cid)
    expect(await held(lamp, next)).toBe(next.chunks.length)
    expect(await held(lamp, played)).toBe(played.chunks.length)
    expect(await held(lamp, placed)).toBe(0)
  })
})
