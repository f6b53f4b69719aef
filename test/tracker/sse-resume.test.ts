/**
 * A dashboard that loses its event stream and reconnects (EventSource does by itself, with
 * `Last-Event-ID`) is sent what it missed, in order, before live events; or, when that is
 * no longer known, a `reset` event telling it to reload. Before, events had no ids and a
 * reconnect silently missed whatever happened meanwhile. Over real HTTP on loopback.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { SSE_REPLAY_EVENTS, SSE_RETRY_MS } from '../../tracker/constants.ts'
import type { Tracker } from '../../tracker/index.ts'
import { Harness, until } from './harness.ts'
import { approvedSlides, createRelease, type EventStream, subscribe } from './wire.ts'

const h = new Harness()
afterEach(() => h.teardown())

/** A tracker with node `n0` (never connected) and a running release of lesson v1 to it, behind a manual gate. */
async function withRelease(dataDir?: string): Promise<{ t: Tracker; id: string }> {
  const t = await h.tracker({ dataDir })
  await h.seed(t)
  await h.api(t, 'POST', '/nodes', { id: 'n0', campus: 'bj-1' })
  const id = await createRelease(t, {
    targets: { nodes: ['n0'] },
    stages: [{ percent: 100, gate: 'manual' }],
  })
  return { t, id }
}

/** Pauses or resumes a release: one `release.status` event each. */
async function toggle(t: Tracker, id: string, op: 'pause' | 'resume'): Promise<void> {
  await h.api(t, 'POST', `/releases/${id}/${op}`)
}

/** `<epoch>-<seq>` as numbers. */
function parseId(id: string | undefined): [number, number] {
  const m = /^(\d+)-(\d+)$/.exec(id ?? '')
  if (m === null) throw new Error(`not an event id: ${id}`)
  return [Number(m[1]), Number(m[2])]
}

/** Waits until `s` has received everything up to event `id` (a replay ends with the stream's position). */
const reached = (s: EventStream, id: string | undefined): Promise<void> =>
  until(() => s.lastId() !== undefined && s.lastId() === id, `stream at ${id}`)

const ops = (s: EventStream): unknown[] =>
  s.events.map((e) => `${e.type}:${e.data.op ?? e.data.reason ?? ''}`)

describe('SSE event ids and resuming', () => {
  it('a reconnect with Last-Event-ID gets exactly the missed events, in order, then live ones', async () => {
    const { t, id } = await withRelease()
    const first = await subscribe(t)
    // a reconnection delay is asked for as the stream opens
    await until(() => first.retryMs() !== undefined, 'retry hint sent')
    expect(first.retryMs()).toBe(SSE_RETRY_MS)
    await toggle(t, id, 'pause')
    await until(() => first.events.length === 1, 'pause streamed')
    const seen = first.lastId()
    expect(first.events[0].id).toBe(seen)
    first.close()

    // while it is away: two changes of this release, and a release of another resource
    await toggle(t, id, 'resume')
    await approvedSlides(t)
    const slides = await createRelease(t, { resource: 'slides', targets: { nodes: ['n0'] } })
    await toggle(t, id, 'pause')

    const again = await subscribe(t, { lastEventId: seen })
    await until(() => again.events.length >= 4, 'missed events replayed')
    expect(ops(again)).toEqual([
      'release.status:resume',
      'release.created:',
      'release.stage:',
      'release.status:pause',
    ])
    expect(again.events.map((e) => e.data.releaseId)).toEqual([id, slides, slides, id])
    const seqs = again.events.map((e) => parseId(e.id))
    // one stream: ids follow on from the one it had, one by one
    expect(seqs.map(([epoch]) => epoch)).toEqual(Array(4).fill(parseId(seen)[0]))
    expect(seqs.map(([, seq]) => seq)).toEqual([1, 2, 3, 4].map((i) => parseId(seen)[1] + i))

    // then live ones, after the replay, nothing twice
    await toggle(t, id, 'resume')
    await until(() => again.events.length === 5, 'live event streamed')
    expect(ops(again)[4]).toBe('release.status:resume')
    expect(parseId(again.events[4].id)[1]).toBe(seqs[3][1] + 1)

    // a client that cannot set the header says it in the query; the header wins over it
    const head = again.lastId()
    const byQuery = await subscribe(t, { path: `/events?lastEventId=${encodeURIComponent(seen!)}` })
    await reached(byQuery, head)
    expect(byQuery.events).toEqual(again.events)
    const both = await subscribe(t, {
      path: `/events?lastEventId=${encodeURIComponent(seen!)}`,
      lastEventId: again.events[3].id,
    })
    await reached(both, head)
    expect(both.events).toEqual([again.events[4]])

    // a release's own stream replays that release's events only
    const one = await subscribe(t, { path: `/releases/${id}/events`, lastEventId: seen })
    await reached(one, head)
    expect(ops(one)).toEqual(['release.status:resume', 'release.status:pause', 'release.status:resume'])
    for (const s of [again, byQuery, both, one]) s.close()
  })

  it('a stream that missed nothing is where it was: connected, disconnected, reconnected', async () => {
    const { t, id } = await withRelease()
    // EventSource sends Last-Event-ID only once it has an id: a stream opens with its position
    const quiet = await subscribe(t)
    await until(() => quiet.lastId() !== undefined, 'position sent')
    expect(quiet.events).toEqual([])
    quiet.close()
    await toggle(t, id, 'pause')
    const back = await subscribe(t, { lastEventId: quiet.lastId() })
    await until(() => back.events.length >= 1, 'the event while away replayed')
    expect(ops(back)).toEqual(['release.status:pause'])
    expect(parseId(back.events[0].id)[1]).toBe(parseId(quiet.lastId())[1] + 1)
    back.close()
  })

  it(`an id older than the last ${SSE_REPLAY_EVENTS} events gets reset, not a partial replay`, async () => {
    const { t, id } = await withRelease()
    const first = await subscribe(t)
    await until(() => first.lastId() !== undefined, 'position sent')
    const old = first.lastId()!
    first.close()
    for (let i = 0; i < SSE_REPLAY_EVENTS / 2 + 1; i++) {
      await toggle(t, id, 'pause')
      await toggle(t, id, 'resume')
    }
    const [epoch, head] = parseId(old)
    const last = head + SSE_REPLAY_EVENTS + 2

    const again = await subscribe(t, { lastEventId: old })
    await until(() => again.events.length === 1, 'reset sent')
    expect(again.events[0]).toMatchObject({ type: 'reset', data: { type: 'reset', reason: 'too-old' } })
    // the reset carries the head of the stream: reloaded, the client resumes from there
    expect(again.events[0].id).toBe(`${epoch}-${last}`)
    await toggle(t, id, 'pause')
    await until(() => again.events.length === 2, 'live after reset')
    expect(again.events[1]).toMatchObject({ type: 'release.status', id: `${epoch}-${last + 1}` })

    // the oldest event kept is still replayed; the one before it is gone
    const edge = await subscribe(t, { lastEventId: `${epoch}-${last + 1 - SSE_REPLAY_EVENTS}` })
    await reached(edge, `${epoch}-${last + 1}`)
    expect(edge.events).toHaveLength(SSE_REPLAY_EVENTS)
    expect(edge.events[0].id).toBe(`${epoch}-${last + 2 - SSE_REPLAY_EVENTS}`)
    const gone = await subscribe(t, { lastEventId: `${epoch}-${last - SSE_REPLAY_EVENTS}` })
    await until(() => gone.events.length === 1, 'reset sent')
    expect(gone.events[0]).toMatchObject({ type: 'reset', data: { reason: 'too-old' } })
    for (const s of [again, edge, gone]) s.close()
  })

  it('an id from before a restart gets reset; ids go on increasing', async () => {
    const dataDir = await h.tmp()
    const { t, id } = await withRelease(dataDir)
    const before = await subscribe(t)
    await toggle(t, id, 'pause')
    await until(() => before.events.length === 1, 'pause streamed')
    const old = before.lastId()
    await t.close()
    await until(() => before.ended(), 'stream ended by the stopping tracker')

    const t2 = await h.tracker({ dataDir })
    const after = await subscribe(t2, { lastEventId: old })
    await until(() => after.events.length === 1, 'reset sent')
    expect(after.events[0]).toMatchObject({ type: 'reset', data: { reason: 'restarted' } })
    await toggle(t2, id, 'resume')
    await until(() => after.events.length === 2, 'live after reset')
    const [oldEpoch] = parseId(old)
    const [newEpoch] = parseId(after.events[1].id)
    expect(newEpoch).toBeGreaterThan(oldEpoch)
    after.close()
  })

  it('a malformed or unknown id gets reset (status 200: EventSource gives up on an error status)', async () => {
    const { t, id } = await withRelease()
    const probe = await subscribe(t)
    await until(() => probe.lastId() !== undefined, 'position sent')
    const [epoch, head] = parseId(probe.lastId())
    probe.close()
    const streams: EventStream[] = []
    for (const lastEventId of ['garbage', '12-ab', `${epoch}-${head + 5}`, `${epoch}-1, ${epoch}-2`]) {
      const s = await subscribe(t, { lastEventId })
      streams.push(s)
      await until(() => s.events.length === 1, `reset for ${lastEventId}`)
      expect(s.events[0], lastEventId).toMatchObject({ type: 'reset', data: { reason: 'invalid' } })
    }
    const byQuery = await subscribe(t, { path: '/events?lastEventId=nope' })
    streams.push(byQuery)
    await until(() => byQuery.events.length === 1, 'reset by query')
    expect(byQuery.events[0]).toMatchObject({ type: 'reset', data: { reason: 'invalid' } })
    // and they go on with live events
    await toggle(t, id, 'pause')
    await until(() => streams.every((s) => s.events.length === 2), 'live event on every stream')
    for (const s of streams) s.close()
  })
})
