/**
 * How many nodes each stage of a release reaches, seen through the admin API of a tracker
 * on a level store with real agents: stages that bring no node of their own (fewer targets
 * than stages) and fractional percentages.
 */
import { afterEach, describe, expect, it } from 'vitest'
import type { MemoryContent } from '../node/agent/memory-content.ts'
import { Harness, lessonCid, until } from './harness.ts'
import { createRelease, http, releaseStatus, untilCompleted } from './wire.ts'

const h = new Harness()
afterEach(() => h.teardown())

describe('stage sizes', () => {
  it('completes a release to one node whose later stage brings no node (stages 20 → 100)', async () => {
    const { t, nodes } = await h.withAgents(1)
    // 20 % of one node is that node (a stage reaches at least one): the 100 % stage adds none
    const id = await createRelease(t, {
      targets: { campuses: ['bj-1'] },
      stages: [{ percent: 20 }, { percent: 100 }],
    })
    await untilCompleted(t, id)
    const s = await releaseStatus(t, id)
    expect(s.stages.map((st: { nodes: number }) => st.nodes)).toEqual([1, 0])
    expect(s.release.stage).toBe(1)
    expect(s.counts.active).toBe(1)
    expect((nodes[0].content as MemoryContent).table.get('lesson')).toBe(lessonCid(1))
  })

  it('passes an empty auto stage by itself and issues the stage after it', async () => {
    const { t, nodes } = await h.withAgents(2)
    // 2 nodes: 5 % → 1, 50 % → 1 (nothing new), 100 % → 2
    const id = await createRelease(t, {
      targets: { campuses: ['bj-1'] },
      stages: [{ percent: 5 }, { percent: 50 }, { percent: 100 }],
    })
    await untilCompleted(t, id)
    expect((await releaseStatus(t, id)).stages.map((st: { nodes: number }) => st.nodes)).toEqual([1, 0, 1])
    for (const n of nodes) expect((n.content as MemoryContent).table.get('lesson')).toBe(lessonCid(1))
  })

  it('holds at a manual gate, and completes once advanced into a last stage with no node', async () => {
    const { t } = await h.withAgents(1)
    const id = await createRelease(t, {
      targets: { campuses: ['bj-1'] },
      stages: [{ percent: 50, gate: 'manual' }, { percent: 100 }],
    })
    await until(async () => (await releaseStatus(t, id)).counts.active === 1, 'canary active')
    expect((await releaseStatus(t, id)).release).toMatchObject({ status: 'running', stage: 0 })
    const adv = await http(t, 'POST', `/releases/${id}/advance`)
    expect(adv.status).toBe(200)
    await untilCompleted(t, id)
  })

  it('sizes a fractional stage without floating-point error (64.4 % of 250 nodes is 161)', async () => {
    const t = await h.tracker({ dataDir: await h.tmp() })
    await h.seed(t)
    for (let i = 0; i < 250; i++) await h.api(t, 'POST', '/nodes', { id: `n${i}`, campus: 'bj-1' })
    // 250 × 64.4 / 100 is 161.00000000000003 in floating point: rounded up, that was 162
    const id = await createRelease(t, {
      targets: { campuses: ['bj-1'] },
      stages: [{ percent: 64.4, gate: 'manual' }, { percent: 100 }],
    })
    const s = await releaseStatus(t, id)
    expect(s.stages.map((st: { nodes: number }) => st.nodes)).toEqual([161, 89])
    expect(s.counts.pending).toBe(161)
  })
})
