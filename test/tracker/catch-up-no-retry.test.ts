/**
 * When a failed catch-up is not retried (`tracker/rollout/catch-up.ts`): a regular member's
 * failure is its release's outcome; a deleted node, a node moved out of the release's
 * targets and a node a newer release covers no longer should run the version; while a live
 * release of the resource has the node, the retry waits. And retention: a late member
 * waiting for a retry keeps its state when its release is compacted, is retried there, and
 * is folded once it no longer waits. Real tracker on level,
 * real agents on loopback; backoffs of a fraction of a second, the sweep's `now` given.
 */
import { afterEach, describe, expect, it } from 'vitest'
import type { MemoryContent } from '../node/agent/memory-content.ts'
import { fetchesOf, lateMemberFailing, nodeIn, retriesOf } from './catch-up-fixture.ts'
import { Harness, lessonCid, until } from './harness.ts'

const HOUR = 3_600_000
const h = new Harness()
afterEach(() => h.teardown())

/** Resolves once `ms` have passed: a backoff the test shows nothing happened in. */
const past = (ms: number): Promise<void> => {
  const end = Date.now() + ms
  return until(() => Date.now() >= end, `${ms} ms passed`)
}

describe('catch-up retries: when not', () => {
  it('does not retry a regular member whose place failed, at a hello neither', async () => {
    const t = await h.tracker({ dataDir: await h.tmp(), catchUpRetryInitialMs: 100 })
    await h.seed(t)
    const a = await h.agent([t.channelUrl], 'a', { campus: 'bj-1' })
    const b = await h.agent([t.channelUrl], 'b', { campus: 'bj-1' })
    await until(() => a.agent.connected && b.agent.connected, 'connected')
    ;(b.content as MemoryContent).failing.add(lessonCid(1))
    const rel = await h.api(t, 'POST', '/releases', {
      resource: 'lesson',
      version: 1,
      targets: { campuses: ['bj-1'] },
    })
    await until(
      async () => (await h.api(t, 'GET', `/releases/${rel.id}`)).release.status === 'completed',
      'completed',
    )
    const retries = retriesOf(t)
    await past(400)
    await b.agent.stop()
    const back = await h.agent([t.channelUrl], 'b', { campus: 'bj-1', key: b.key, content: b.content })
    await until(() => back.agent.connected, 'b back')
    await past(300)
    expect(retries).toHaveLength(0)
    expect(t.state.outbox.issued('b')).toBe(1)
    const rn = await nodeIn(h, t, rel.id, 'b')
    expect(rn.state).toBe('failed')
    expect(rn.retryAt).toBeUndefined()
    expect(rn.attempts).toBeUndefined()
    expect((await h.api(t, 'GET', `/releases/${rel.id}`)).retrying).toBe(0)
  })

  it('does not retry a deleted node, and the release can be compacted', async () => {
    const { t, id, late, content } = await lateMemberFailing(h, { catchUpRetryInitialMs: 800 })
    const retries = retriesOf(t)
    await late.agent.stop()
    await h.api(t, 'DELETE', '/nodes/late')
    await past(1_000)
    expect(retries).toHaveLength(0)
    expect(fetchesOf(content, lessonCid(1))).toBe(1)
    const rn = await nodeIn(h, t, id, 'late')
    expect(rn).toMatchObject({ state: 'failed', deletedAt: expect.any(Number) })
    expect(rn.retryAt).toBeUndefined()
    expect((await h.api(t, 'GET', `/releases/${id}`)).retrying).toBe(0)
    expect(await t.retention.sweep({ now: Date.now() + 60 * 24 * HOUR })).toMatchObject({ compacted: 1 })
  })

  it('drops the retry of a node moved out of the release’s targets', async () => {
    const { t, id, content } = await lateMemberFailing(h, { catchUpRetryInitialMs: 800 })
    const retries = retriesOf(t)
    expect((await nodeIn(h, t, id, 'late')).retryAt).toBeDefined()
    // sh-1 runs nothing: the node no longer should run v1
    await h.api(t, 'PATCH', '/nodes/late', { campus: 'sh-1' })
    expect((await nodeIn(h, t, id, 'late')).retryAt).toBeUndefined()
    await past(1_000)
    expect(retries).toHaveLength(0)
    expect(fetchesOf(content, lessonCid(1))).toBe(1)
    expect(await h.api(t, 'GET', '/nodes/late/resources')).toEqual([])
  })

  it('holds the retry while a newer release has the node, and drops it once that one covers it', async () => {
    const { t, id, late, content } = await lateMemberFailing(h, { catchUpRetryInitialMs: 500 })
    const retries = retriesOf(t)
    // a newer release of the campus, whose fetch on the late node hangs past the retry's time
    let open!: () => void
    content.gate = new Promise<void>((resolve) => {
      open = resolve
    })
    const newer = await h.api(t, 'POST', '/releases', {
      resource: 'lesson',
      version: 2,
      targets: { campuses: ['bj-1'] },
    })
    await until(async () => (await nodeIn(h, t, newer.id, 'late'))?.state === 'fetching', 'newer fetching')
    const { retryAt } = await nodeIn(h, t, id, 'late')
    await until(() => Date.now() > retryAt! + 300, 'retry due while the newer release runs')
    // fell due while the newer release had the node: held back, not sent
    expect(retries).toHaveLength(0)
    expect((await nodeIn(h, t, id, 'late')).retryAt).toBeGreaterThan(retryAt!)
    open()
    content.gate = undefined
    await until(
      async () => (await h.api(t, 'GET', `/releases/${newer.id}`)).release.status === 'completed',
      'newer completed',
    )
    expect((late.content as MemoryContent).table.get('lesson')).toBe(lessonCid(2))
    // at its next time the retry is dropped, never sent: the newer release is what it runs
    await until(async () => (await nodeIn(h, t, id, 'late')).retryAt === undefined, 'retry dropped')
    expect(retries).toHaveLength(0)
    expect(fetchesOf(content, lessonCid(1))).toBe(1)
    expect((late.content as MemoryContent).table.get('lesson')).toBe(lessonCid(2))
  })

  it('keeps a late member waiting for a retry when its release is compacted, retries it there, and folds it once it caught up', async () => {
    const { t, id, content } = await lateMemberFailing(h, {
      catchUpRetryInitialMs: 500,
      releaseRetentionMs: HOUR,
    })
    const later = Date.now() + 24 * HOUR
    // n0 is folded; the late member keeps its state, and with it its retry
    expect(await t.retention.sweep({ now: later })).toMatchObject({ compacted: 1, nodes: 1 })
    expect(t.state.releases.get(id).compacted).toMatchObject({ nodes: 1 })
    expect((await nodeIn(h, t, id, 'late')).retryAt).toBeDefined()
    content.failing.clear()
    await until(async () => (await nodeIn(h, t, id, 'late')).state === 'active', 'caught up on retry')
    expect(await t.retention.sweep({ now: later })).toMatchObject({ compacted: 1, nodes: 1 })
    expect(t.state.releases.nodes.has(id)).toBe(false)
    expect(t.state.releases.get(id).compacted).toMatchObject({ nodes: 2, counts: { active: 2 } })
    // compacted, it still says the node runs what it should
    expect(await h.api(t, 'GET', '/nodes/late/resources')).toMatchObject([{ inSync: true }])
  })
})
