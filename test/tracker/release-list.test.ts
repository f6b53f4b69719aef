/**
 * `GET /releases` (what `dandelion release list` prints) lists the newest releases first,
 * in the same order before and after a restart, so that `?limit=n` keeps the latest n.
 * Before, the list came in creation order while the tracker ran, cutting the newest ones
 * past the limit (1,000 by default: a tracker's recent releases vanished from `release
 * list`), and in the order of the random release ids after a restart (the limit then kept
 * an arbitrary set).
 */
import { afterEach, describe, expect, it } from 'vitest'
import type { Tracker } from '../../tracker/index.ts'
import { Harness, until } from './harness.ts'
import { createRelease, http, untilCompleted } from './wire.ts'

const h = new Harness()
afterEach(() => h.teardown())

describe('the release list', () => {
  it('comes newest first, before and after a restart, and the limit keeps the latest', async () => {
    const dataDir = await h.tmp()
    const t = await h.tracker({ dataDir })
    await h.seed(t)
    const { agent } = await h.agent([t.channelUrl], 'n0', { campus: 'bj-1' })
    await until(() => agent.connected, 'agent connected')
    // the oldest release completes on the connected node; the others wait on offline nodes,
    // each its own, so that none overlaps another
    const ids = [await createRelease(t, { targets: { nodes: ['n0'] } })]
    await untilCompleted(t, ids[0])
    for (let i = 1; i <= 4; i++) {
      expect((await http(t, 'POST', '/nodes', { id: `off${i}`, campus: 'bj-2' })).status).toBe(201)
      const before = Date.now()
      const res = await http(t, 'POST', '/releases', {
        resource: 'lesson',
        version: 1,
        targets: { nodes: [`off${i}`] },
      })
      expect(res.status, JSON.stringify(res.body)).toBe(201)
      ids.push(res.body.id)
      // creation times one apart at least, so that "newest" is unambiguous
      await until(() => Date.now() > before, 'the clock moved on')
    }
    const newestFirst = [...ids].reverse()
    const listed = async (tracker: Tracker, url: string): Promise<string[]> =>
      (await http(tracker, 'GET', url)).body.map((r: { id: string }) => r.id)

    expect(await listed(t, '/releases')).toEqual(newestFirst)
    expect(await listed(t, '/releases?limit=2')).toEqual(newestFirst.slice(0, 2))

    await t.close()
    const again = await h.tracker({ dataDir })
    expect(await listed(again, '/releases')).toEqual(newestFirst)
    expect(await listed(again, '/releases?limit=2')).toEqual(newestFirst.slice(0, 2))
  })
})
