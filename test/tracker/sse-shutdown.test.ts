/**
 * A dashboard subscribed to the SSE stream must not keep the tracker from stopping: the
 * `dandelion tracker` process stops on SIGTERM with `tracker.close()`, and before, that
 * waited for every event stream to be closed by its client, so the process never exited
 * (and its state was never closed) while a dashboard was open.
 */
import { afterEach, describe, expect, it } from 'vitest'
import type { MemoryContent } from '../node/agent/memory-content.ts'
import { Harness, lessonCid, until } from './harness.ts'
import { createRelease, releaseStatus, subscribe, untilCompleted } from './wire.ts'

const h = new Harness()
afterEach(() => h.teardown())

describe('stopping the tracker with event subscribers', () => {
  it('ends their streams and stops; a restart on the same data dir has the release', async () => {
    const dataDir = await h.tmp()
    const t = await h.tracker({ dataDir })
    await h.seed(t)
    const { agent, content } = await h.agent([t.channelUrl], 'n0', { campus: 'bj-1' })
    await until(() => agent.connected, 'agent connected')

    const all = await subscribe(t)
    const other = await subscribe(t)
    const id = await createRelease(t, { targets: { campuses: ['bj-1'] } })
    await untilCompleted(t, id)
    await until(() => all.events.some((e) => e.type === 'release.status'), 'completion streamed')
    expect((content as MemoryContent).table.get('lesson')).toBe(lessonCid(1))

    let closed = false
    const closing = t.close().then(() => {
      closed = true
    })
    try {
      // bounded, not timed: stopping takes milliseconds; before, it never ended
      await until(() => closed, 'tracker stopped with two dashboards subscribed', 10_000)
      // the tracker ended the streams itself, so a dashboard sees it go and can reconnect
      await until(() => all.ended() && other.ended(), 'streams ended by the tracker', 10_000)
    } finally {
      // so that a tracker still waiting on them stops anyway
      all.close()
      other.close()
      await closing
    }

    const again = await h.tracker({ dataDir })
    expect((await releaseStatus(again, id)).release).toMatchObject({ status: 'completed' })
  })
})
