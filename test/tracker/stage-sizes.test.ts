/**
 * How many nodes each stage of a release reaches, seen through the admin API of a tracker
 * on a level store with real agents: stages that bring no node of their own (fewer targets
 * than stages) and fractional percentages.
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
  return { t, nodes }
}

async function create(t: Tracker, body: object): Promise<string> {
  const res = await http(t, 'POST', '/releases', { resource: 'lesson', version: 1, ...body })
  expect(res.status, JSON.stringify(res.body)).toBe(201)
  return res.body.id
}

const status = async (t: Tracker, id: string) => (await http(t, 'GET', `/releases/${id}`)).body

/** Waits (a few seconds at most: the nodes answer at once) for the release to complete. */
async function completes(t: Tracker, id: string): Promise<void> {
  await until(async () => (await status(t, id)).release.status === 'completed', 'release completed', 8_000)
}

describe('stage sizes', () => {
  it('completes a release to one node whose later stage brings no node (stages 20 → 100)', async () => {
    const { t, nodes } = await withAgents(1)
    // 20 % of one node is that node (a stage reaches at least one): the 100 % stage adds none
    const id = await create(t, {
      targets: { campuses: ['bj-1'] },
      stages: [{ percent: 20 }, { percent: 100 }],
    })
    await completes(t, id)
    const s = await status(t, id)
    expect(s.stages.map((st: { nodes: number }) => st.nodes)).toEqual([1, 0])
    expect(s.release.stage).toBe(1)
    expect(s.counts.active).toBe(1)
    expect((nodes[0].content as MemoryContent).table.get('lesson')).toBe(lessonCid(1))
  })

  it('passes an empty auto stage by itself and issues the stage after it', async () => {
    const { t, nodes } = await withAgents(2)
    // 2 nodes: 5 % → 1, 50 % → 1 (nothing new), 100 % → 2
    const id = await create(t, {
      targets: { campuses: ['bj-1'] },
      stages: [{ percent: 5 }, { percent: 50 }, { percent: 100 }],
    })
    await completes(t, id)
    expect((await status(t, id)).stages.map((st: { nodes: number }) => st.nodes)).toEqual([1, 0, 1])
    for (const n of nodes) expect((n.content as MemoryContent).table.get('lesson')).toBe(lessonCid(1))
  })

  it('holds at a manual gate, and completes once advanced into a last stage with no node', async () => {
    const { t } = await withAgents(1)
    const id = await create(t, {
      targets: { campuses: ['bj-1'] },
      stages: [{ percent: 50, gate: 'manual' }, { percent: 100 }],
    })
    await until(async () => (await status(t, id)).counts.active === 1, 'canary active')
    expect((await status(t, id)).release).toMatchObject({ status: 'running', stage: 0 })
    const adv = await http(t, 'POST', `/releases/${id}/advance`)
    expect(adv.status).toBe(200)
    await completes(t, id)
  })

  it('sizes a fractional stage without floating-point error (64.4 % of 250 nodes is 161)', async () => {
    const t = await h.tracker({ dataDir: await h.tmp() })
    await h.seed(t)
    for (let i = 0; i < 250; i++) await h.api(t, 'POST', '/nodes', { id: `n${i}`, campus: 'bj-1' })
    // 250 × 64.4 / 100 is 161.00000000000003 in floating point: rounded up, that was 162
    const id = await create(t, {
      targets: { campuses: ['bj-1'] },
      stages: [{ percent: 64.4, gate: 'manual' }, { percent: 100 }],
    })
    const s = await status(t, id)
    expect(s.stages.map((st: { nodes: number }) => st.nodes)).toEqual([161, 89])
    expect(s.counts.pending).toBe(161)
  })
})
