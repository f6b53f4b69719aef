/**
 * A state write that fails (disk full) must not leave the tracker acting on the change it
 * could not save: the API answers 503, no command of the change reaches a node, and the
 * tracker serves what is on disk, before a restart as after it.
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { CLOSE_CODES } from '../../node/agent/protocol.ts'
import type { Tracker } from '../../tracker/index.ts'
import { LevelKv, MemoryKv } from '../../tracker/state/kv.ts'
import { ADMIN, Harness, until } from './harness.ts'
import { bareNode } from './wire.ts'

const h = new Harness()
afterEach(async () => {
  vi.restoreAllMocks()
  await h.teardown()
})

const enospc = (): Error =>
  Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' })

const RELEASE = { resource: 'lesson', version: 1, targets: { campuses: ['bj-1'] } }

async function call(t: Tracker, method: 'GET' | 'POST', url: string, payload?: object) {
  const res = await t.app.inject({
    method,
    url,
    headers: { authorization: `Bearer ${ADMIN}` },
    payload,
  })
  return { status: res.statusCode, body: res.body === '' ? undefined : res.json() }
}

describe('failed state write', () => {
  it('answers 503, sends nothing of the change and serves the disk, before and after a restart', async () => {
    const dataDir = await h.tmp()
    const t = await h.tracker({ dataDir })
    await h.seed(t)
    const key = await generateKeyPair('Ed25519')
    const n = await bareNode(t.channelUrl, key, 'n0')
    await until(() => n.frames.some((f) => f.t === 'welcome'), 'welcome')

    vi.spyOn(LevelKv.prototype, 'batch').mockRejectedValueOnce(enospc())
    const created = await call(t, 'POST', '/api/v1/releases', RELEASE)
    expect(created.status).toBe(503)
    expect(created.body.error.code).toBe('ERR_STATE_UNAVAILABLE')

    // the connected node is let go without the command
    expect(await n.closed).toBe(CLOSE_CODES.shutdown)
    expect(n.cmds()).toEqual([])
    // and once the state is reloaded from disk, its next hello gets nothing either
    await until(() => t.state.available, 'state reloaded')
    const again = await bareNode(t.channelUrl, key, 'n0')
    await until(() => again.frames.some((f) => f.t === 'welcome'), 'welcome again')
    await again.settled()
    expect(again.cmds()).toEqual([])
    expect(await call(t, 'GET', '/api/v1/releases')).toEqual({ status: 200, body: [] })
    // no write succeeded since: monitoring still sees the disk failing
    expect((await call(t, 'GET', '/health')).status).toBe(503)
    again.ws.close()

    await t.close()
    vi.restoreAllMocks()
    const t2 = await h.tracker({ dataDir })
    expect((await call(t2, 'GET', '/api/v1/releases')).body).toEqual([])
    expect((await call(t2, 'GET', '/api/v1/nodes/n0')).body.id).toBe('n0')
    const back = await bareNode(t2.channelUrl, key, 'n0')
    await until(() => back.frames.some((f) => f.t === 'welcome'), 'welcome after restart')
    await back.settled()
    expect(back.cmds()).toEqual([])
    // the release can be created again; the failed one burnt no sequence number on disk
    expect((await call(t2, 'POST', '/api/v1/releases', RELEASE)).status).toBe(201)
    await until(() => back.cmds().length > 0, 'command')
    expect(back.cmds().map((c) => [c.op, c.seq])).toEqual([['place', 1]])
    back.ws.close()
  })

  it('does not send a command whose commit is in flight to a node that connects meanwhile', async () => {
    const t = await h.tracker()
    await h.seed(t)
    const key = await generateKeyPair('Ed25519')
    const first = await bareNode(t.channelUrl, key, 'n0')
    await until(() => first.frames.some((f) => f.t === 'welcome'), 'enrolled')
    first.ws.close()
    await until(() => !t.channel.isConnected('n0'), 'offline')

    const disk = Promise.withResolvers<void>()
    const batch = vi.spyOn(MemoryKv.prototype, 'batch').mockImplementationOnce(async () => {
      await disk.promise
      throw enospc()
    })
    const created = call(t, 'POST', '/api/v1/releases', RELEASE)
    await until(() => batch.mock.calls.length === 1, 'release being written')
    // the node comes back while the release's batch is still being written
    const n = await bareNode(t.channelUrl, key, 'n0')
    await until(() => n.frames.some((f) => f.t === 'welcome'), 'welcome')
    await n.settled()
    expect(n.cmds()).toEqual([])

    disk.resolve()
    expect((await created).status).toBe(503)
    expect(await n.closed).toBe(CLOSE_CODES.shutdown)
    expect(n.cmds()).toEqual([])
  })
})
