/**
 * Releases that cannot queue a stage because a node's outbox is full (an offline node),
 * seen through the admin API and across a tracker restart on the same data directory.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { MAX_OUTBOX_PER_NODE } from '../../tracker/constants.ts'
import type { ReleaseEvent, Tracker } from '../../tracker/index.ts'
import { ADMIN, fillOutbox, Harness, reportOutcomes, until } from './harness.ts'

const h = new Harness()
afterEach(() => h.teardown())

/** A tracker on `dataDir` with `lesson` approved and nodes n0..n11 (offline) in 3 campuses. */
async function seeded(dataDir: string): Promise<Tracker> {
  const t = await h.tracker({ dataDir })
  await h.seed(t)
  for (let i = 0; i < 12; i++)
    await h.api(t, 'POST', '/nodes', { id: `n${i}`, campus: ['bj-1', 'bj-2', 'sh-1'][i % 3] })
  return t
}

/** Closes a tracker as an operator stopping it would, and starts it again on `dataDir`. */
async function restart(t: Tracker, dataDir: string): Promise<Tracker> {
  await t.close()
  h.trackers.splice(h.trackers.indexOf(t), 1)
  return h.tracker({ dataDir })
}

/** The next event of `type` the tracker's engine emits. */
function nextEvent(t: Tracker, type: ReleaseEvent['type']): Promise<ReleaseEvent> {
  return new Promise((resolve) => {
    const on = (e: ReleaseEvent): void => {
      if (e.type !== type) return
      t.engine.off('event', on)
      resolve(e)
    }
    t.engine.on('event', on)
  })
}

const placesOf = (t: Tracker, nodeId: string) =>
  [...t.state.outbox.entriesOf(nodeId)].filter((e) => e.cmd.op === 'place')

describe('blocked releases', () => {
  it('refuses with 503 a release whose first stage cannot be queued, and keeps nothing of it', async () => {
    const dataDir = await h.tmp('tracker-blocked-')
    let t = await seeded(dataDir)
    await fillOutbox(t.state, 'n1')
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/v1/releases',
      headers: { authorization: `Bearer ${ADMIN}` },
      payload: { resource: 'lesson', version: 1, targets: { nodes: ['n0', 'n1'] } },
    })
    expect(res.statusCode).toBe(503)
    expect(res.json().error.code).toBe('ERR_CAPACITY')
    // no release to see, act on or be misled by, and n0 got no command of it
    expect(await h.api(t, 'GET', '/releases')).toEqual([])
    expect(placesOf(t, 'n0')).toEqual([])
    t = await restart(t, dataDir)
    expect(await h.api(t, 'GET', '/releases')).toEqual([])
    expect(placesOf(t, 'n0')).toEqual([])
    expect(t.state.outbox.stats().queued).toBe(MAX_OUTBOX_PER_NODE)
    // once n1 works through its outbox, the same request succeeds
    await reportOutcomes(t.state, t.engine, ['n1'], 'done')
    const rel = await h.api(t, 'POST', '/releases', {
      resource: 'lesson',
      version: 1,
      targets: { nodes: ['n0', 'n1'] },
    })
    expect(await h.api(t, 'GET', '/releases')).toMatchObject([{ id: rel.id, status: 'running', stage: 0 }])
    expect((await h.api(t, 'GET', `/releases/${rel.id}`)).counts.pending).toBe(2)
  })

  it('issues the stage of a release blocked before a restart once the outbox drains, unprompted', async () => {
    const dataDir = await h.tmp('tracker-blocked-')
    let t = await seeded(dataDir)
    const rel = await h.api(t, 'POST', '/releases', {
      resource: 'lesson',
      version: 1,
      targets: { cities: ['bj', 'sh'] },
      stages: [
        { percent: 10, gate: 'auto', successRatio: 1 },
        { percent: 100, gate: 'auto' },
      ],
    })
    const nodeIds = async (state: string): Promise<string[]> =>
      (await h.api(t, 'GET', `/releases/${rel.id}/nodes?state=${state}`)).nodes.map(
        (n: { nodeId: string }) => n.nodeId,
      )
    const canaries = await nodeIds('pending')
    const rest = await nodeIds('waiting')
    const offline = rest[0]
    await fillOutbox(t.state, offline)
    const blocked = nextEvent(t, 'release.blocked')
    await reportOutcomes(t.state, t.engine, canaries, 'active')
    expect(await blocked).toMatchObject({ releaseId: rel.id, code: 'ERR_CAPACITY' })

    t = await restart(t, dataDir)
    expect((await h.api(t, 'GET', `/releases/${rel.id}`)).release).toMatchObject({
      status: 'running',
      stage: 0,
    })
    // the offline node comes back and works through its outbox; nobody touches the release
    await reportOutcomes(t.state, t.engine, [offline], 'done')
    await until(
      async () => (await h.api(t, 'GET', `/releases/${rel.id}`)).release.stage === 1,
      'the next stage issued',
      10_000,
    )
    expect((await h.api(t, 'GET', `/releases/${rel.id}`)).counts).toMatchObject({
      active: canaries.length,
      pending: rest.length,
    })
    // and it was committed, not only done in memory
    t = await restart(t, dataDir)
    expect((await h.api(t, 'GET', `/releases/${rel.id}`)).counts.pending).toBe(rest.length)
    for (const n of rest) expect(placesOf(t, n)).toHaveLength(1)
  })
})
