/**
 * A state write that fails (disk full) must not leave the tracker acting on the change it
 * could not save: the API answers 503, no command of the change reaches a node, and a
 * restart shows what is on disk.
 */
import { once } from 'node:events'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { afterEach, describe, expect, it, vi } from 'vitest'
import WebSocket from 'ws'
import { authPayload, CHANNEL_PROTOCOL, CLOSE_CODES, type ServerFrame } from '../../node/agent/protocol.ts'
import type { Tracker } from '../../tracker/index.ts'
import { LevelKv, MemoryKv } from '../../tracker/state/kv.ts'
import { ADMIN, ENROLL, Harness, until } from './harness.ts'

const h = new Harness()
afterEach(async () => {
  vi.restoreAllMocks()
  await h.teardown()
})

const enospc = (): Error =>
  Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' })

const RELEASE = { resource: 'lesson', version: 1, targets: { campuses: ['bj-1'] } }

/** A bare node: enrolls as `nodeId` in bj-1 with `key` and records every frame it gets. */
async function node(
  url: string,
  key: PrivateKey,
  nodeId: string,
): Promise<{ ws: WebSocket; frames: ServerFrame[]; closed: Promise<number> }> {
  const ws = new WebSocket(url, CHANNEL_PROTOCOL)
  const frames: ServerFrame[] = []
  const peerId = peerIdFromPrivateKey(key).toString()
  const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)))
  ws.on('message', async (data) => {
    const f = JSON.parse(data.toString()) as ServerFrame
    frames.push(f)
    if (f.t === 'challenge') {
      const sig = Buffer.from(await key.sign(authPayload(f.nonce, peerId))).toString('base64url')
      const enroll = { token: ENROLL, nodeId, campus: 'bj-1' }
      ws.send(JSON.stringify({ t: 'hello', peerId, sig, lastSeq: 0, enroll }))
    }
  })
  return { ws, frames, closed }
}

/** Everything the tracker sent before it answers a ping (frames arrive in order). */
async function settled(ws: WebSocket): Promise<void> {
  ws.ping()
  await once(ws, 'pong')
}

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
  it('answers 503, sends nothing of the change and shows the disk after a restart', async () => {
    const dataDir = await h.tmp()
    const t = await h.tracker({ dataDir })
    await h.seed(t)
    const key = await generateKeyPair('Ed25519')
    const n = await node(t.channelUrl, key, 'n0')
    await until(() => n.frames.some((f) => f.t === 'welcome'), 'welcome')

    vi.spyOn(LevelKv.prototype, 'batch').mockRejectedValueOnce(enospc())
    const created = await call(t, 'POST', '/api/v1/releases', RELEASE)
    expect(created.status).toBe(503)
    expect(created.body.error.code).toBe('ERR_STATE_UNAVAILABLE')

    // the connected node is let go without the command
    expect(await n.closed).toBe(CLOSE_CODES.shutdown)
    expect(n.frames.filter((f) => f.t === 'cmd')).toEqual([])
    // and its next hello gets nothing either
    const again = await node(t.channelUrl, key, 'n0')
    expect(await again.closed).toBe(CLOSE_CODES.shutdown)
    expect(again.frames.filter((f) => f.t === 'cmd')).toEqual([])
    expect((await call(t, 'GET', '/api/v1/releases')).status).toBe(503)
    expect((await call(t, 'GET', '/health')).status).toBe(503)

    await t.close()
    vi.restoreAllMocks()
    const t2 = await h.tracker({ dataDir })
    expect((await call(t2, 'GET', '/api/v1/releases')).body).toEqual([])
    expect((await call(t2, 'GET', '/api/v1/nodes/n0')).body.id).toBe('n0')
    const back = await node(t2.channelUrl, key, 'n0')
    await until(() => back.frames.some((f) => f.t === 'welcome'), 'welcome after restart')
    await settled(back.ws)
    expect(back.frames.filter((f) => f.t === 'cmd')).toEqual([])
    // the release can be created again; the failed one burnt no sequence number on disk
    expect((await call(t2, 'POST', '/api/v1/releases', RELEASE)).status).toBe(201)
    await until(() => back.frames.some((f) => f.t === 'cmd'), 'command')
    const cmds = back.frames.flatMap((f) => (f.t === 'cmd' ? [f.cmd] : []))
    expect(cmds.map((c) => [c.op, c.seq])).toEqual([['place', 1]])
    back.ws.close()
  })

  it('does not send a command whose commit is in flight to a node that connects meanwhile', async () => {
    const t = await h.tracker()
    await h.seed(t)
    const key = await generateKeyPair('Ed25519')
    const first = await node(t.channelUrl, key, 'n0')
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
    const n = await node(t.channelUrl, key, 'n0')
    await until(() => n.frames.some((f) => f.t === 'welcome'), 'welcome')
    await settled(n.ws)
    expect(n.frames.filter((f) => f.t === 'cmd')).toEqual([])

    disk.resolve()
    expect((await created).status).toBe(503)
    expect(await n.closed).toBe(CLOSE_CODES.shutdown)
    expect(n.frames.filter((f) => f.t === 'cmd')).toEqual([])
  })
})
