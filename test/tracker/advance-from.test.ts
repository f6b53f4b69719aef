/**
 * `POST /releases/:id/advance` with `{ "from": <release.stage> }`, over real HTTP to a
 * tracker on a level store with real agents: a doubled, concurrent or retried advance
 * moves the release one stage, never past the manual gate after it; an advance without
 * `from` still works as before; an advance at the last stage says that is where it is.
 */
import { afterEach, describe, expect, it } from 'vitest'
import type { Tracker } from '../../tracker/index.ts'
import type { MemoryContent } from '../node/agent/memory-content.ts'
import { Harness, lessonCid, until } from './harness.ts'
import { http, releaseStatus, THREE_MANUAL_STAGES } from './wire.ts'

const h = new Harness()
afterEach(() => h.teardown())

/** 4 nodes in three manually gated stages: 1 node, 2 nodes, all 4. Resolves once the canary is active. */
async function threeManualStages(t: Tracker): Promise<string> {
  const res = await http(t, 'POST', '/releases', {
    resource: 'lesson',
    version: 1,
    targets: { campuses: ['bj-1'] },
    stages: THREE_MANUAL_STAGES,
  })
  expect(res.status, JSON.stringify(res.body)).toBe(201)
  const id = res.body.id as string
  await until(async () => (await releaseStatus(t, id)).counts.active === 1, 'canary active')
  return id
}

const serving = (contents: MemoryContent[]): number =>
  contents.filter((c) => c.table.get('lesson') === lessonCid(1)).length

describe('advance from a named stage', () => {
  it('takes one of two concurrent advances from the same stage and refuses the other: the next manual gate holds', async () => {
    const { t, contents } = await h.withAgents(4)
    const id = await threeManualStages(t)

    // two operators (or a double click) advance from what they both saw: stage index 0
    const answers = await Promise.all([
      http(t, 'POST', `/releases/${id}/advance`, { from: 0 }),
      http(t, 'POST', `/releases/${id}/advance`, { from: 0 }),
    ])
    expect(answers.map((a) => a.status).sort()).toEqual([200, 409])
    const refused = answers.find((a) => a.status === 409)!
    expect(refused.body.error.code).toBe('ERR_STAGE_MISMATCH')
    expect(refused.body.error.message).toContain('stage index 1')
    expect(answers.find((a) => a.status === 200)!.body.stage).toBe(1)

    // stage 2 (2 nodes) is out and active; the last stage, behind its manual gate, is not
    await until(async () => (await releaseStatus(t, id)).counts.active === 2, 'second stage active')
    const s = await releaseStatus(t, id)
    expect(s.release).toMatchObject({ status: 'running', stage: 1 })
    expect(s.counts.waiting).toBe(2)
    expect(serving(contents)).toBe(2)
  })

  it('refuses a retried advance and changes nothing; an advance without `from` still moves it on', async () => {
    const { t, contents } = await h.withAgents(4)
    const id = await threeManualStages(t)

    expect((await http(t, 'POST', `/releases/${id}/advance`, { from: 0 })).status).toBe(200)
    await until(async () => (await releaseStatus(t, id)).counts.active === 2, 'second stage active')
    const before = await releaseStatus(t, id)

    // the same request again, as a client whose answer was lost sends it
    const retry = await http(t, 'POST', `/releases/${id}/advance`, { from: 0 })
    expect(retry.status).toBe(409)
    expect(retry.body.error.code).toBe('ERR_STAGE_MISMATCH')
    const after = await releaseStatus(t, id)
    expect(after.release.stage).toBe(1)
    expect(after.counts).toEqual(before.counts)
    expect(after.release.updatedAt).toBe(before.release.updatedAt)

    // not a number, or a stage that cannot exist: refused by the schema
    expect((await http(t, 'POST', `/releases/${id}/advance`, { from: '1' })).status).toBe(400)
    expect((await http(t, 'POST', `/releases/${id}/advance`, { from: -1 })).status).toBe(400)
    expect((await http(t, 'POST', `/releases/${id}/advance`, { stage: 1 })).status).toBe(400)

    // a client that sends no body (as every client did before `from`) advances from wherever it is
    const plain = await http(t, 'POST', `/releases/${id}/advance`)
    expect(plain.status).toBe(200)
    expect(plain.body.stage).toBe(2)
    await until(async () => (await releaseStatus(t, id)).release.status === 'completed', 'completed')
    expect(serving(contents)).toBe(4)
  })

  it('says a release is at its last stage when advanced there, with the code clients match', async () => {
    const { t } = await h.withAgents(1)
    const res = await http(t, 'POST', '/releases', {
      resource: 'lesson',
      version: 1,
      targets: { campuses: ['bj-1'] },
      stages: [{ percent: 50, gate: 'manual' }, { percent: 100 }],
    })
    const id = res.body.id as string
    // one node: the first stage reaches it; pausing keeps the release at stage index 0
    await http(t, 'POST', `/releases/${id}/pause`)
    expect((await http(t, 'POST', `/releases/${id}/advance`, { from: 0 })).status).toBe(200)
    const last = await http(t, 'POST', `/releases/${id}/advance`, { from: 1 })
    expect(last.status).toBe(409)
    expect(last.body.error.code).toBe('ERR_INVALID_RELEASE_STATE')
    expect(last.body.error.message).toContain('last stage')
    expect(last.body.error.message).toContain('2 of 2')
    // a release that is over still says so
    await http(t, 'POST', `/releases/${id}/abort`)
    const over = await http(t, 'POST', `/releases/${id}/advance`)
    expect(over.body.error).toMatchObject({
      code: 'ERR_INVALID_RELEASE_STATE',
      message: 'cannot advance a release that is aborted',
    })
  })
})
