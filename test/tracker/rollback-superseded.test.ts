/**
 * Rolling back a release that a later release of the same resource has replaced, seen
 * through the admin API: nodes that moved on keep the newer version, and the tracker's
 * state keeps matching what the nodes run.
 */
import { afterEach, describe, expect, it } from 'vitest'
import type { OutcomeStatus } from '../../node/agent/protocol.ts'
import type { Tracker } from '../../tracker/index.ts'
import { ADMIN, Harness, lessonCid, reportOutcomes } from './harness.ts'

const h = new Harness()
afterEach(() => h.teardown())

const ALL = Array.from({ length: 12 }, (_, i) => `n${i}`)
const SH = ALL.filter((_, i) => i % 3 === 2)
const BJ = ALL.filter((n) => !SH.includes(n))

/** A tracker with `lesson` approved and nodes n0..n11 (offline) in 3 campuses. */
async function seeded(): Promise<Tracker> {
  const t = await h.tracker()
  await h.seed(t)
  for (const [i, id] of ALL.entries())
    await h.api(t, 'POST', '/nodes', { id, campus: ['bj-1', 'bj-2', 'sh-1'][i % 3] })
  return t
}

/** Acts as every node with queued commands reporting `status` for them, then settles the gates. */
async function report(t: Tracker, status: OutcomeStatus): Promise<void> {
  await reportOutcomes(t.state, t.engine, ALL, status)
  await t.engine.settle()
}

/** Creates a release of `lesson` v`version` and has every node activate it. */
async function completed(t: Tracker, version: number, targets: object): Promise<string> {
  const rel = await h.api(t, 'POST', '/releases', { resource: 'lesson', version, targets })
  await report(t, 'active')
  expect((await h.api(t, 'GET', `/releases/${rel.id}`)).release.status).toBe('completed')
  return rel.id
}

/** Commands queued to `nodeIds`, as `op vN`. */
const queued = (t: Tracker, nodeIds: string[]): string[] =>
  nodeIds.flatMap((n) => [...t.state.outbox.entriesOf(n)].map((e) => `${e.cmd.op} v${e.cmd.version}`))

const rollback = (t: Tracker, id: string) =>
  t.app.inject({
    method: 'POST',
    url: `/api/v1/releases/${id}/rollback`,
    headers: { authorization: `Bearer ${ADMIN}` },
  })

describe('rolling back a superseded release', () => {
  it('refuses with 409 when every node has moved on, and sends nothing', async () => {
    const t = await seeded()
    const r1 = await completed(t, 1, { cities: ['bj', 'sh'] })
    const r2 = await completed(t, 2, { cities: ['bj', 'sh'] })
    const res = await rollback(t, r1)
    expect(res.statusCode).toBe(409)
    expect(res.json().error.code).toBe('ERR_RELEASE_SUPERSEDED')
    expect(res.json().error.message).toContain(r2)
    // no node is told to deactivate: the lesson stays online at v2, as the tracker says
    expect(queued(t, ALL)).toEqual([])
    for (const n of ALL)
      expect(t.state.releases.currentOf(n, 'lesson')).toMatchObject({ version: 2, releaseId: r2 })
    expect((await h.api(t, 'GET', `/releases/${r1}`)).release.status).toBe('completed')
    expect((await h.api(t, 'GET', `/releases/${r2}`)).counts.active).toBe(12)
  })

  it('reverts only the nodes still on the release, and says why the others were left', async () => {
    const t = await seeded()
    const r1 = await completed(t, 1, { cities: ['bj', 'sh'] })
    const r2 = await completed(t, 2, { cities: ['sh'] })
    const res = await rollback(t, r1)
    expect(res.statusCode).toBe(200)
    expect(res.json().status).toBe('rolled_back')
    // bj nodes ran nothing before r1; sh nodes now run r2 and are not touched
    expect(queued(t, BJ)).toEqual(BJ.map(() => 'deactivate v0'))
    expect(queued(t, SH)).toEqual([])
    await report(t, 'done')

    const { nodes }: { nodes: Array<{ nodeId: string; state: string; reason?: string }> } = await h.api(
      t,
      'GET',
      `/releases/${r1}/nodes`,
    )
    for (const rn of nodes) {
      if (BJ.includes(rn.nodeId)) expect(rn.state).toBe('reverted')
      else expect(rn.reason).toContain(`moved on to release ${r2}`)
    }
    for (const n of BJ) expect(t.state.releases.currentOf(n, 'lesson')).toBeUndefined()
    for (const n of SH)
      expect(t.state.releases.currentOf(n, 'lesson')).toEqual({
        version: 2,
        manifestCid: lessonCid(2),
        releaseId: r2,
      })
    expect((await h.api(t, 'GET', `/releases/${r2}`)).release.status).toBe('completed')
  })

  it('reverts a release again once the newer one is rolled back', async () => {
    const t = await seeded()
    const r1 = await completed(t, 1, { cities: ['bj', 'sh'] })
    const r2 = await completed(t, 2, { cities: ['bj', 'sh'] })
    expect((await rollback(t, r2)).statusCode).toBe(200)
    expect(queued(t, ALL)).toEqual(ALL.map(() => 'activate v1'))
    await report(t, 'active')
    // the nodes run r1 again, so rolling r1 back reaches them
    for (const n of ALL)
      expect(t.state.releases.currentOf(n, 'lesson')).toMatchObject({ version: 1, releaseId: r1 })
    expect((await rollback(t, r1)).statusCode).toBe(200)
    expect(queued(t, ALL)).toEqual(ALL.map(() => 'deactivate v0'))
  })
})
