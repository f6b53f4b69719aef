/**
 * Readers of the admin API and of its event stream see only what is on disk: a change is
 * not shown while its write is in flight, nor ever if the write fails. The writer gets a
 * 503 in the API's error shape, and the tracker goes on serving what is on disk and takes
 * changes again. The failure is injected into the real level store, once.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import { LevelKv } from '../../tracker/state/kv.ts'
import { MemoryContent } from '../node/agent/memory-content.ts'
import { Harness, until } from './harness.ts'
import { http, subscribe } from './wire.ts'

const h = new Harness()
/** Writes held by {@link failNextBatch}: let go at the end, or a tracker could not close. */
const held: Array<PromiseWithResolvers<void>> = []
afterEach(async () => {
  for (const d of held.splice(0)) d.resolve()
  vi.restoreAllMocks()
  await h.teardown()
})

const enospc = (): Error =>
  Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' })

/** Makes the next batch of the level store wait for `disk`, then fail. */
function failNextBatch(): { disk: PromiseWithResolvers<void>; batch: ReturnType<typeof vi.spyOn> } {
  const disk = Promise.withResolvers<void>()
  held.push(disk)
  const batch = vi.spyOn(LevelKv.prototype, 'batch').mockImplementationOnce(async () => {
    await disk.promise
    throw enospc()
  })
  return { disk, batch }
}

describe('a change whose write fails', () => {
  it('is never shown by the API, answers its writer 503, and the tracker goes on', async () => {
    const dataDir = await h.tmp()
    const t = await h.tracker({ dataDir })
    await h.seed(t)
    const { disk, batch } = failNextBatch()
    const put = http(t, 'POST', '/cities', { id: 'gz', name: 'Guangzhou' })
    await until(() => batch.mock.calls.length === 1, 'city being written')
    // while the write is in flight, readers see what is on disk
    expect((await http(t, 'GET', '/cities')).body.map((c: { id: string }) => c.id)).toEqual(['bj', 'sh'])
    disk.resolve()
    const failed = await put
    expect(failed.status).toBe(503)
    expect(failed.body).toEqual({ error: { code: 'ERR_STATE_UNAVAILABLE', message: expect.any(String) } })
    // …and after it failed, too: the tracker still serves, and says its disk failed
    expect(await http(t, 'GET', '/cities')).toMatchObject({ status: 200, body: [{ id: 'bj' }, { id: 'sh' }] })
    expect((await http(t, 'GET', '/health')).status).toBe(503)

    // a change made after the failure is taken and saved
    await until(
      async () => (await http(t, 'POST', '/cities', { id: 'sz', name: 'Shenzhen' })).status === 201,
      'taken',
    )
    expect((await http(t, 'GET', '/health')).status).toBe(200)
    await t.close()
    const t2 = await h.tracker({ dataDir })
    expect((await http(t2, 'GET', '/cities')).body.map((c: { id: string }) => c.id)).toEqual([
      'bj',
      'sh',
      'sz',
    ])
  })

  it('announces nothing of a release operation that failed, and the next one goes through', async () => {
    const dataDir = await h.tmp()
    const t = await h.tracker({ dataDir })
    await h.seed(t)
    for (const id of ['n1', 'n2']) await http(t, 'POST', '/nodes', { id, campus: 'bj-1' })
    const rel = await http(t, 'POST', '/releases', {
      resource: 'lesson',
      version: 1,
      targets: { nodes: ['n1', 'n2'] },
      stages: [
        { percent: 50, gate: 'manual' },
        { percent: 100, gate: 'manual' },
      ],
    })
    const url = `/releases/${rel.body.id}`
    const events = await subscribe(t)

    const { disk, batch } = failNextBatch()
    const advance = http(t, 'POST', `${url}/advance`)
    await until(() => batch.mock.calls.length === 1, 'advance being written')
    const during = await http(t, 'GET', url)
    expect(during.body.release.stage).toBe(0)
    expect(during.body.counts).toMatchObject({ waiting: 1, pending: 1 })
    disk.resolve()
    expect(await advance).toMatchObject({ status: 503, body: { error: { code: 'ERR_STATE_UNAVAILABLE' } } })
    const after = await http(t, 'GET', url)
    expect(after.status).toBe(200)
    expect(after.body.release.stage).toBe(0)
    expect(after.body.counts).toMatchObject({ waiting: 1, pending: 1 })

    // the operator retries; only that advance is announced
    await until(async () => (await http(t, 'POST', `${url}/advance`)).status === 200, 'advance taken')
    await until(() => events.events.some((e) => e.type === 'release.status'), 'advance announced')
    expect(events.events.map((e) => [e.type, e.data.stage ?? e.data.op])).toEqual([
      ['release.stage', 1],
      ['release.status', 'advance'],
    ])
    events.close()
    expect((await http(t, 'GET', url)).body.counts).toMatchObject({ waiting: 0, pending: 2 })
    await t.close()
    const t2 = await h.tracker({ dataDir })
    expect((await http(t2, 'GET', url)).body).toMatchObject({ release: { stage: 1 }, counts: { pending: 2 } })
  })

  it('of a node outcome: the node is asked again and the release completes, announced once', async () => {
    const t = await h.tracker({ dataDir: await h.tmp() })
    await h.seed(t)
    const content = new MemoryContent()
    const gate = Promise.withResolvers<void>()
    content.gate = gate.promise
    const { agent } = await h.agent([t.channelUrl], 'n1', { campus: 'bj-1', content })
    await until(() => agent.connected, 'connected')
    const rel = await http(t, 'POST', '/releases', {
      resource: 'lesson',
      version: 1,
      targets: { nodes: ['n1'] },
    })
    const url = `/releases/${rel.body.id}`
    // its ACK and progress are on disk; the fetch waits
    await until(
      async () => (await http(t, 'GET', `${url}/nodes`)).body.nodes[0].peerBytes === 600,
      'fetching',
    )
    const events = await subscribe(t)

    // the node's next report, its outcome, cannot be saved
    const { disk, batch } = failNextBatch()
    disk.resolve()
    gate.resolve()
    await until(() => batch.mock.settledResults[0]?.type === 'rejected', 'outcome write failed')
    // a put carries its value as the JSON text written to the store
    const ops = batch.mock.calls[0][0] as Array<{ type: string; value?: string }>
    expect(ops.some((op) => op.type === 'put' && op.value?.includes('"state":"active"'))).toBe(true)
    // still serving (the node may already be back and have reported again)
    expect((await http(t, 'GET', url)).status).toBe(200)

    await until(async () => (await http(t, 'GET', url)).body.release.status === 'completed', 'completed')
    expect((await http(t, 'GET', url)).body.counts).toMatchObject({ active: 1, fetching: 0 })
    const nodeEvents = events.events.filter((e) => e.type === 'release.node')
    expect(nodeEvents.map((e) => e.data.state)).toEqual(['active'])
    events.close()
  })
})
