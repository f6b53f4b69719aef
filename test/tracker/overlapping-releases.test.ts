/**
 * Two releases of one resource on the same nodes, through the admin API of a tracker on a
 * level store with real agents: what the nodes end up running must be what the tracker
 * says, whichever order stages, aborts and rollbacks come in.
 */
import { afterEach, describe, expect, it } from 'vitest'
import type { Tracker } from '../../tracker/index.ts'
import type { MemoryContent } from '../node/agent/memory-content.ts'
import { Harness, lessonCid, until } from './harness.ts'
import { approvedSlides, http, releaseStatus, untilCompleted } from './wire.ts'

const h = new Harness()
afterEach(() => h.teardown())

/** Asks for a release of `lesson` v`version` to campus bj-1, in one stage. */
const lessonRelease = (t: Tracker, version: number) =>
  http(t, 'POST', '/releases', { resource: 'lesson', version, targets: { campuses: ['bj-1'] } })

/** Which version of `lesson` each node serves. */
const serving = (contents: MemoryContent[]): Array<string | undefined> =>
  contents.map((c) => {
    const cid = c.table.get('lesson')
    return cid === undefined ? undefined : `v${[1, 2, 3].find((v) => lessonCid(v) === cid)}`
  })

describe('overlapping releases of one resource', () => {
  it('refuses a release while an older live one has yet to reach its nodes, and creates nothing', async () => {
    const { t, contents } = await h.withAgents(4)
    const r1 = await http(t, 'POST', '/releases', {
      resource: 'lesson',
      version: 1,
      targets: { campuses: ['bj-1'] },
      stages: [{ percent: 25, gate: 'manual' }, { percent: 100 }],
    })
    await until(async () => (await releaseStatus(t, r1.body.id)).counts.active === 1, 'canary active')

    // the older release would send v1 to 3 of these nodes when advanced, over v2
    const r2 = await lessonRelease(t, 2)
    expect(r2.status).toBe(409)
    expect(r2.body.error.code).toBe('ERR_RELEASE_OVERLAP')
    expect(r2.body.error.message).toContain(r1.body.id)
    expect((await http(t, 'GET', '/releases')).body).toHaveLength(1)

    // another resource on the same nodes is no conflict
    await approvedSlides(t)
    const other = await http(t, 'POST', '/releases', {
      resource: 'slides',
      version: 1,
      targets: { campuses: ['bj-1'] },
    })
    expect(other.status).toBe(201)
    await untilCompleted(t, other.body.id)

    // aborted, the older release sends nothing more: the newer one is taken and wins everywhere
    expect((await http(t, 'POST', `/releases/${r1.body.id}/abort`)).status).toBe(200)
    const r3 = await lessonRelease(t, 2)
    expect(r3.status).toBe(201)
    await untilCompleted(t, r3.body.id)
    expect(serving(contents)).toEqual(['v2', 'v2', 'v2', 'v2'])
    expect((await releaseStatus(t, r3.body.id)).counts.active).toBe(4)
    // only the canary ever fetched v1
    expect(contents.filter((c) => c.calls.includes(`fetch ${lessonCid(1)}`))).toHaveLength(1)
  })

  it('accepts a newer release once the older one has reached every node it shares', async () => {
    const { t, contents } = await h.withAgents(2)
    const r1 = await lessonRelease(t, 1)
    await untilCompleted(t, r1.body.id)
    const r2 = await lessonRelease(t, 2)
    expect(r2.status).toBe(201)
    await untilCompleted(t, r2.body.id)
    expect(serving(contents)).toEqual(['v2', 'v2'])
  })

  it('does not roll back nodes a newer release is still rolling out to', async () => {
    const { t, contents } = await h.withAgents(2)
    const r1 = await lessonRelease(t, 1)
    await untilCompleted(t, r1.body.id)
    // the nodes hold the v2 download in flight
    const opens = contents.map((c) => {
      let open!: () => void
      c.gate = new Promise<void>((resolve) => {
        open = resolve
      })
      return open
    })
    const r2 = await lessonRelease(t, 2)
    await until(async () => (await releaseStatus(t, r2.body.id)).counts.fetching === 2, 'v2 fetching')

    // rolling v1 back now would take the lesson offline under the v2 rollout
    const rb = await http(t, 'POST', `/releases/${r1.body.id}/rollback`)
    expect(rb.status).toBe(409)
    expect(rb.body.error.code).toBe('ERR_RELEASE_SUPERSEDED')
    expect(rb.body.error.message).toContain(r2.body.id)
    expect((await releaseStatus(t, r1.body.id)).release.status).toBe('completed')

    for (const open of opens) open()
    await untilCompleted(t, r2.body.id)
    expect((await releaseStatus(t, r2.body.id)).counts.active).toBe(2)
    expect(serving(contents)).toEqual(['v2', 'v2'])
  })
})
