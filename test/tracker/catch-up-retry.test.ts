/**
 * Catch-up retries (`tracker/rollout/catch-up.ts`): a late member whose `place` failed or
 * timed out is sent it again, as a new command, after a backoff that doubles up to its cap;
 * at once when it reconnects after the backoff passed; on the schedule a restarted tracker
 * finds on disk. Real tracker on level, real agents on loopback whose in-memory content fails
 * the fetch until the test lets it succeed; backoffs of a fraction of a second.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { MemoryContent } from '../node/agent/memory-content.ts'
import { fetchesOf, lateMemberFailing, nodeIn, released, restart, retriesOf } from './catch-up-fixture.ts'
import { Harness, lessonCid, until } from './harness.ts'

const h = new Harness()
afterEach(() => h.teardown())

const lesson = (c: MemoryContent): string | undefined => c.table.get('lesson')

describe('catch-up retries', () => {
  it('sends a late member whose catch-up failed its place again after the backoff, and it becomes active', async () => {
    const init = { catchUpRetryInitialMs: 600, catchUpRetryMaxMs: 60_000 }
    const { t, id, content } = await lateMemberFailing(h, init)
    const retries = retriesOf(t)
    const failed = await nodeIn(h, t, id, 'late')
    // the failure, the attempt and when the next one is due are shown
    expect(failed).toMatchObject({
      state: 'failed',
      attempts: 1,
      lastFailure: { reason: expect.stringContaining('cannot fetch'), at: expect.any(Number) },
    })
    expect(failed.retryAt).toBe(failed.lastFailure!.at + 600)
    const [view] = await h.api(t, 'GET', '/nodes/late/resources')
    expect(view).toMatchObject({
      desired: { releaseId: id, state: 'failed', attempts: 1, retryAt: failed.retryAt },
      inSync: false,
    })
    expect((await h.api(t, 'GET', `/releases/${id}`)).retrying).toBe(1)

    // the node's disk is cleaned up: the retry, not before it is due, lands
    content.failing.clear()
    await until(() => lesson(content) === lessonCid(1), 'late member caught up on retry')
    expect(retries).toHaveLength(1)
    expect(retries[0].at).toBeGreaterThanOrEqual(failed.retryAt!)
    await until(async () => (await nodeIn(h, t, id, 'late')).state === 'active', 'retry counted')
    const done = await nodeIn(h, t, id, 'late')
    // a new command, the attempt counted, the failure kept, no retry left
    expect(done.cmdId).not.toBe(failed.cmdId)
    expect(done).toMatchObject({ attempts: 2, lastFailure: failed.lastFailure, joinedAt: failed.joinedAt })
    expect(done.retryAt).toBeUndefined()
    expect(t.state.outbox.issued('late')).toBe(2)
    const s = await h.api(t, 'GET', `/releases/${id}`)
    expect(s).toMatchObject({ retrying: 0, counts: { active: 2, failed: 0 } })
    expect(s.release.result).toMatchObject({ outcome: 'succeeded', active: 2, failed: 0 })
    expect(await h.api(t, 'GET', '/nodes/late/resources')).toMatchObject([
      { desired: { state: 'active', attempts: 2 }, inSync: true },
    ])
  })

  it('doubles the backoff at each failure, up to its cap', async () => {
    const { t, id, content } = await lateMemberFailing(h, {
      catchUpRetryInitialMs: 150,
      catchUpRetryMaxMs: 600,
    })
    // each failure as written: its attempt, and the delay before the next
    const delays = new Map<number, number>()
    const record = (): void => {
      const rn = t.state.committed.releases.nodes.get(id)?.get('late')
      if (rn?.retryAt !== undefined && rn.lastFailure !== undefined)
        delays.set(rn.attempts!, rn.retryAt - rn.lastFailure.at)
    }
    record()
    t.engine.on('event', (e) => {
      if (e.type === 'release.node' && e.nodeId === 'late' && e.state === 'failed') record()
    })
    await until(() => delays.has(5), 'five failed attempts')
    expect([...delays].sort(([a], [b]) => a - b).slice(0, 5)).toEqual([
      [1, 150],
      [2, 300],
      [3, 600],
      [4, 600],
      [5, 600],
    ])
    // one fetch per attempt: each retry reached the node as a command of its own
    expect(fetchesOf(content, lessonCid(1))).toBeGreaterThanOrEqual(5)
    expect(t.state.outbox.issued('late')).toBeGreaterThanOrEqual(5)
  })

  it('retries at once a late member that reconnects after its backoff passed', async () => {
    const init = { catchUpRetryInitialMs: 400, catchUpRetryMaxMs: 60_000 }
    const { t, id, late, content } = await lateMemberFailing(h, init)
    const retries = retriesOf(t)
    await late.agent.stop()
    await until(() => !t.channel.isConnected('late'), 'late node gone')
    const { retryAt } = await nodeIn(h, t, id, 'late')
    // while it is away, its retry falls due and nothing is sent
    await until(() => Date.now() > retryAt! + 300, 'backoff passed')
    expect(retries).toHaveLength(0)
    expect(t.state.outbox.issued('late')).toBe(1)
    expect(await nodeIn(h, t, id, 'late')).toMatchObject({ state: 'failed', attempts: 1, retryAt })

    content.failing.clear()
    const back = await h.agent([t.channelUrl], 'late', { campus: 'bj-1', key: late.key, content })
    await until(() => back.agent.connected, 'late node back')
    // queued by its hello: no sweep sends a retry to a node that was offline
    await until(() => retries.length === 1, 'retried at hello')
    await until(() => lesson(content) === lessonCid(1), 'caught up')
    await until(async () => (await nodeIn(h, t, id, 'late')).state === 'active', 'counted')
    expect(await nodeIn(h, t, id, 'late')).toMatchObject({ attempts: 2 })
  })

  it('keeps the retry schedule across a tracker restart', async () => {
    const init = { catchUpRetryInitialMs: 1_500, catchUpRetryMaxMs: 60_000 }
    const first = await lateMemberFailing(h, init)
    const { id, content, early, late } = first
    const before = await nodeIn(h, first.t, id, 'late')
    const t = await restart(h, first.t, first.dataDir, init)
    const retries = retriesOf(t)
    await until(() => early.agent.connected && late.agent.connected, 'agents reconnected')
    // reconnected before the retry was due: its hello sent nothing, the schedule on disk holds
    expect(Date.now()).toBeLessThan(before.retryAt!)
    expect(await nodeIn(h, t, id, 'late')).toMatchObject({
      state: 'failed',
      attempts: 1,
      retryAt: before.retryAt,
    })
    expect(retries).toHaveLength(0)

    // the restarted tracker's sweep sends it when due; the attempt count went on from disk
    await until(() => retries.length === 1, 'retried after the restart')
    expect(retries[0].at).toBeGreaterThanOrEqual(before.retryAt!)
    await until(async () => (await nodeIn(h, t, id, 'late')).state === 'failed', 'second attempt failed')
    const second = await nodeIn(h, t, id, 'late')
    expect(second.attempts).toBe(2)
    expect(second.retryAt! - second.lastFailure!.at).toBe(3_000)
    content.failing.clear()
    const t2 = await restart(h, t, first.dataDir, init)
    await until(() => lesson(content) === lessonCid(1), 'caught up after the second restart')
    await until(async () => (await nodeIn(h, t2, id, 'late')).state === 'active', 'counted')
    expect(await nodeIn(h, t2, id, 'late')).toMatchObject({ attempts: 3 })
  })

  it('gives a late member moved out and back into the campus its retry again', async () => {
    const { t, id, content } = await lateMemberFailing(h, { catchUpRetryInitialMs: 800 })
    const failed = await nodeIn(h, t, id, 'late')
    await h.api(t, 'PATCH', '/nodes/late', { campus: 'sh-1' })
    expect((await nodeIn(h, t, id, 'late')).retryAt).toBeUndefined()
    content.failing.clear()
    // back in bj-1: its backoff goes on from its last failure
    await h.api(t, 'PATCH', '/nodes/late', { campus: 'bj-1' })
    await until(() => lesson(content) === lessonCid(1), 'caught up once back')
    await until(async () => (await nodeIn(h, t, id, 'late')).state === 'active', 'counted')
    expect(await nodeIn(h, t, id, 'late')).toMatchObject({ attempts: 2, lastFailure: failed.lastFailure })
  })

  it('retries a late member whose catch-up timed out, and drops the retry when it reports after all', async () => {
    const t = await h.tracker({ dataDir: await h.tmp(), catchUpRetryInitialMs: 60_000 })
    await h.seed(t)
    const early = await h.agent([t.channelUrl], 'n0', { campus: 'bj-1' })
    await until(() => early.agent.connected, 'n0 connected')
    const id = await released(h, t, { version: 1, targets: { campuses: ['bj-1'] }, outcomeTimeoutMs: 300 })
    // the late member's fetch hangs past its outcome deadline
    const content = new MemoryContent()
    let open!: () => void
    content.gate = new Promise<void>((resolve) => {
      open = resolve
    })
    await h.agent([t.channelUrl], 'late', { campus: 'bj-1', content })
    await until(async () => (await nodeIn(h, t, id, 'late'))?.state === 'failed', 'timed out')
    const timedOut = await nodeIn(h, t, id, 'late')
    expect(timedOut).toMatchObject({ reason: 'timeout', attempts: 1, lastFailure: { reason: 'timeout' } })
    expect(timedOut.retryAt).toBe(timedOut.lastFailure!.at + 60_000)
    // it got the version after all: recorded, and no retry is left
    open()
    await until(async () => (await nodeIn(h, t, id, 'late')).state === 'active', 'late outcome')
    expect((await nodeIn(h, t, id, 'late')).retryAt).toBeUndefined()
    expect((await h.api(t, 'GET', `/releases/${id}`)).retrying).toBe(0)
  })
})
