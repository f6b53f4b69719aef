/**
 * Two releases of one resource on the same nodes, through the admin API of a tracker on a
 * level store with real agents: what the nodes end up running must be what the tracker
 * says, whichever order stages, aborts and rollbacks come in.
 */
import { afterEach, describe, expect, it } from 'vitest'
import type { Tracker } from '../../tracker/index.ts'
import type { MemoryContent } from '../node/agent/memory-content.ts'
import { Harness, lessonCid, until } from './harness.ts'
import { http } from './wire.ts'

const h = new Harness()
afterEach(() => h.teardown())

/** A tracker on disk with `lesson` v1/v2 approved and `n` connected agents in campus bj-1. */
async function withAgents(n: number) {
  const t = await h.tracker({ dataDir: await h.tmp() })
  await h.seed(t)
  const nodes = await Promise.all(
    Array.from({ length: n }, (_, i) => h.agent([t.channelUrl], `n${i}`, { campus: 'bj-1' })),
  )
  await until(() => nodes.every((x) => x.agent.connected), 'agents connected')
  return { t, contents: nodes.map((x) => x.content as MemoryContent) }
}

const status = async (t: Tracker, id: string) => (await http(t, 'GET', `/releases/${id}`)).body

async function completes(t: Tracker, id: string): Promise<void> {
  await until(async () => (await status(t, id)).release.status === 'completed', 'release completed', 8_000)
}

/** Which version of `lesson` each node serves. */
const serving = (contents: MemoryContent[]): Array<string | undefined> =>
  contents.map((c) => {
    const cid = c.table.get('lesson')
    return cid === undefined ? undefined : `v${[1, 2, 3].find((v) => lessonCid(v) === cid)}`
  })

describe('overlapping releases of one resource', () => {
  it('refuses a release while an older live one has yet to reach its nodes, and creates nothing', async () => {
    const { t, contents } = await withAgents(4)
    const r1 = await http(t, 'POST', '/releases', {
      resource: 'lesson',
      version: 1,
      targets: { campuses: ['bj-1'] },
      stages: [{ percent: 25, gate: 'manual' }, { percent: 100 }],
    })
    await until(async () => (await status(t, r1.body.id)).counts.active === 1, 'canary active')

    // the older release would send v1 to 3 of these nodes when advanced, over v2
    const r2 = await http(t, 'POST', '/releases', {
      resource: 'lesson',
      version: 2,
      targets: { campuses: ['bj-1'] },
    })
    expect(r2.status).toBe(409)
    expect(r2.body.error.code).toBe('ERR_RELEASE_OVERLAP')
    expect(r2.body.error.message).toContain(r1.body.id)
    expect((await http(t, 'GET', '/releases')).body).toHaveLength(1)

    // another resource on the same nodes is no conflict
    await http(t, 'POST', '/resources/slides/versions', {
      version: 1,
      manifestCid: lessonCid(9),
      size: 1,
      type: 'file',
    })
    await http(t, 'POST', '/resources/slides/versions/1/approve')
    const other = await http(t, 'POST', '/releases', {
      resource: 'slides',
      version: 1,
      targets: { campuses: ['bj-1'] },
    })
    expect(other.status).toBe(201)
    await completes(t, other.body.id)

    // aborted, the older release sends nothing more: the newer one is taken and wins everywhere
    expect((await http(t, 'POST', `/releases/${r1.body.id}/abort`)).status).toBe(200)
    const r3 = await http(t, 'POST', '/releases', {
      resource: 'lesson',
      version: 2,
      targets: { campuses: ['bj-1'] },
    })
    expect(r3.status).toBe(201)
    await completes(t, r3.body.id)
    expect(serving(contents)).toEqual(['v2', 'v2', 'v2', 'v2'])
    expect((await status(t, r3.body.id)).counts.active).toBe(4)
    // only the canary ever fetched v1
    expect(contents.filter((c) => c.calls.includes(`fetch ${lessonCid(1)}`))).toHaveLength(1)
  })

  it('accepts a newer release once the older one has reached every node it shares', async () => {
    const { t, contents } = await withAgents(2)
    const r1 = await http(t, 'POST', '/releases', {
      resource: 'lesson',
      version: 1,
      targets: { campuses: ['bj-1'] },
    })
    await completes(t, r1.body.id)
    const r2 = await http(t, 'POST', '/releases', {
      resource: 'lesson',
      version: 2,
      targets: { campuses: ['bj-1'] },
    })
    expect(r2.status).toBe(201)
    await completes(t, r2.body.id)
    expect(serving(contents)).toEqual(['v2', 'v2'])
  })

  it('does not roll back nodes a newer release is still rolling out to', async () => {
    const { t, contents } = await withAgents(2)
    const r1 = await http(t, 'POST', '/releases', {
      resource: 'lesson',
      version: 1,
      targets: { campuses: ['bj-1'] },
    })
    await completes(t, r1.body.id)
    // the nodes hold the v2 download in flight
    const opens = contents.map((c) => {
      let open!: () => void
      c.gate = new Promise<void>((resolve) => {
        open = resolve
      })
      return open
    })
    const r2 = await http(t, 'POST', '/releases', {
      resource: 'lesson',
      version: 2,
      targets: { campuses: ['bj-1'] },
    })
    await until(async () => (await status(t, r2.body.id)).counts.fetching === 2, 'v2 fetching')

    // rolling v1 back now would take the lesson offline under the v2 rollout
    const rb = await http(t, 'POST', `/releases/${r1.body.id}/rollback`)
    expect(rb.status).toBe(409)
    expect(rb.body.error.code).toBe('ERR_RELEASE_SUPERSEDED')
    expect(rb.body.error.message).toContain(r2.body.id)
    expect((await status(t, r1.body.id)).release.status).toBe('completed')

    for (const open of opens) open()
    await completes(t, r2.body.id)
    expect((await status(t, r2.body.id)).counts.active).toBe(2)
    expect(serving(contents)).toEqual(['v2', 'v2'])
  })
})
