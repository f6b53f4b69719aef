/**
 * A campus node's machine dies and is replaced (new disk, new key): `DELETE
 * /api/v1/nodes/:id/peer` frees its id for the replacement, which enrolls under it and is
 * sent what the node should run, while the node keeps its campus, labels, enrollment time and
 * releases. The old key is refused from then on, and cannot take the id back.
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { afterEach, describe, expect, it } from 'vitest'
import { CLOSE_CODES } from '../../node/agent/protocol.ts'
import { MemoryContent } from '../node/agent/memory-content.ts'
import { ENROLL, Harness, lessonCid, until } from './harness.ts'
import { bareNode, createRelease, http, releaseStatus, untilCompleted } from './wire.ts'

const h = new Harness()
afterEach(() => h.teardown())

describe('DELETE /nodes/:id/peer: a replaced machine', () => {
  it('lets the replacement enroll under the id and run the released version; the old key is refused', {
    timeout: 30_000,
  }, async () => {
    const t = await h.tracker({ dataDir: await h.tmp() })
    await h.seed(t)
    const old = await h.agent([t.channelUrl], 'n1', { campus: 'bj-1', labels: ['lab'] })
    await until(() => old.agent.connected, 'old machine connected')
    const rel = await createRelease(t, { version: 1, targets: { campuses: ['bj-1'] } })
    await untilCompleted(t, rel)
    const before = (await http(t, 'GET', '/nodes/n1')).body
    const oldCodes: string[] = []
    old.agent.on('refused', ({ code }) => oldCodes.push(code))

    const res = await http(t, 'DELETE', '/nodes/n1/peer')
    expect(res.status).toBe(200)
    expect(res.body).toMatchObject({ id: 'n1', campus: 'bj-1', labels: ['lab'], connected: false })
    expect(res.body.peerId).toBeUndefined()
    // the old machine is disconnected, and refused as released when it says hello again:
    // it does not bind itself back (its agent is not told to enroll again)
    await until(
      () => oldCodes.filter((c) => c === 'ERR_PEER_UNBOUND').length >= 2,
      'old machine refused twice',
    )
    expect(old.agent.connected).toBe(false)
    expect((await http(t, 'GET', '/nodes/n1')).body.peerId).toBeUndefined()

    // the replacement: a new key, a fresh disk, the same node id
    const content = new MemoryContent()
    const fresh = await h.agent([t.channelUrl], 'n1', { campus: 'bj-1', content })
    await until(() => content.table.get('lesson') === lessonCid(1), 'replacement runs v1')
    expect(content.calls.filter((c) => c === `fetch ${lessonCid(1)}`)).toHaveLength(1)
    const after = (await http(t, 'GET', '/nodes/n1')).body
    expect(after).toMatchObject({
      campus: 'bj-1',
      labels: ['lab'],
      enrolledAt: before.enrolledAt,
      peerId: fresh.agent.peerId,
      connected: true,
    })
    await until(async () => (await releaseStatus(t, rel)).counts.active === 1, 'active in the release again')
    const [view] = (await http(t, 'GET', '/nodes/n1/resources')).body
    expect(view).toMatchObject({ inSync: true, running: { manifestCid: lessonCid(1) } })

    // the old key cannot take the id back, even enrolling with the token
    const back = await bareNode(t.channelUrl, old.key, 'n1')
    await back.closed
    expect(back.frames.at(-1)).toMatchObject({ t: 'error', code: 'ERR_NODE_TAKEN' })
    expect((await http(t, 'GET', '/nodes/n1')).body.peerId).toBe(fresh.agent.peerId)
  })

  it('sends the commands queued for the old machine, which it had ACKed, to the replacement', {
    timeout: 30_000,
  }, async () => {
    const t = await h.tracker()
    await h.seed(t)
    // the old machine ACKs the place and dies while fetching
    const stuck = new MemoryContent()
    stuck.gate = new Promise(() => {})
    const old = await h.agent([t.channelUrl], 'n1', { campus: 'bj-1', content: stuck })
    await until(() => old.agent.connected, 'old machine connected')
    const rel = await createRelease(t, { version: 2, targets: { nodes: ['n1'] } })
    await until(() => stuck.calls.includes(`fetch ${lessonCid(2)}`), 'old machine fetching')
    expect((await http(t, 'DELETE', '/nodes/n1/peer')).status).toBe(200)
    await until(() => !old.agent.connected, 'old machine disconnected')
    await old.agent.stop()

    const content = new MemoryContent()
    await h.agent([t.channelUrl], 'n1', { campus: 'bj-1', content })
    await untilCompleted(t, rel)
    expect(content.table.get('lesson')).toBe(lessonCid(2))
    expect(content.calls.filter((c) => c === `fetch ${lessonCid(2)}`)).toHaveLength(1)
    expect((await releaseStatus(t, rel)).counts).toMatchObject({ active: 1, failed: 0 })
  })

  it('counts the outcome deadline of a command the old machine ACKed from the replacement’s ACK', {
    timeout: 30_000,
  }, async () => {
    const timeout = 4_000
    const t = await h.tracker({ dataDir: await h.tmp() })
    await h.seed(t)
    const n1 = async () =>
      (await http(t, 'GET', `/releases/${rel}/nodes`)).body.nodes.find(
        (n: { nodeId: string }) => n.nodeId === 'n1',
      )
    // the old machine ACKs the place and goes silent mid-fetch
    const stuck = new MemoryContent()
    stuck.gate = new Promise(() => {})
    const old = await h.agent([t.channelUrl], 'n1', { campus: 'bj-1', content: stuck })
    await until(() => old.agent.connected, 'old machine connected')
    const rel = await createRelease(t, { version: 2, targets: { nodes: ['n1'] }, outcomeTimeoutMs: timeout })
    await until(async () => (await n1())?.ackedAt !== undefined, 'old machine ACKed')
    const oldAck = (await n1()).ackedAt as number
    expect((await http(t, 'DELETE', '/nodes/n1/peer')).status).toBe(200)
    await until(() => !old.agent.connected, 'old machine disconnected')
    await old.agent.stop()
    // nobody fetches it now: it waits, unACKed, for the next machine
    expect(await n1()).toMatchObject({ state: 'pending', percent: 0 })
    expect((await n1()).ackedAt).toBeUndefined()
    expect((await releaseStatus(t, rel)).counts).toMatchObject({ pending: 1, fetching: 0 })

    // close to the old machine's deadline, the replacement enrolls and ACKs
    await new Promise((resolve) => setTimeout(resolve, oldAck + timeout * 0.7 - Date.now()))
    const content = new MemoryContent()
    let open!: () => void
    content.gate = new Promise<void>((resolve) => {
      open = resolve
    })
    await h.agent([t.channelUrl], 'n1', { campus: 'bj-1', content })
    await until(async () => (await n1())?.ackedAt !== undefined, 'replacement ACKed')
    const newAck = (await n1()).ackedAt as number
    expect(newAck).toBeGreaterThanOrEqual(oldAck + timeout * 0.7)
    // past where the old machine's ACK would have put the deadline, before the replacement's
    await new Promise((resolve) => setTimeout(resolve, oldAck + timeout + 500 - Date.now()))
    expect(Date.now()).toBeLessThan(newAck + timeout)
    expect(await n1()).toMatchObject({ state: 'fetching' })
    expect((await n1()).timedOutAt).toBeUndefined()
    expect((await releaseStatus(t, rel)).release.status).toBe('running')

    open()
    await untilCompleted(t, rel)
    const s = await releaseStatus(t, rel)
    expect(s.counts).toMatchObject({ active: 1, failed: 0 })
    expect(s.release.result).toEqual({ outcome: 'succeeded', active: 1, failed: 0, timedOut: 0 })
    expect(content.table.get('lesson')).toBe(lessonCid(2))
  })

  it('refuses the old key as released after a restart too; enrolling of its own accord first, it binds again', {
    timeout: 30_000,
  }, async () => {
    const dataDir = await h.tmp()
    const t = await h.tracker({ dataDir })
    await h.seed(t)
    const key = await generateKeyPair('Ed25519')
    const first = await bareNode(t.channelUrl, key, 'n1')
    await until(() => first.frames.some((f) => f.t === 'welcome'), 'enrolled')
    expect((await http(t, 'DELETE', '/nodes/n1/peer')).status).toBe(200)
    expect(await first.closed).toBe(CLOSE_CODES.unauthorized)
    // idempotent: the node is unbound already
    expect((await http(t, 'DELETE', '/nodes/n1/peer')).status).toBe(200)
    await t.close()
    const t2 = await h.tracker({ dataDir })
    // its agent believes it enrolled: a hello without enrollment is refused as released
    const hello = await bareNode(t2.channelUrl, key, 'n1', 'bj-1', { enroll: false })
    await hello.closed
    const err = hello.frames.at(-1) as { t: string; code: string; message: string }
    expect(err).toMatchObject({ t: 'error', code: 'ERR_PEER_UNBOUND' })
    expect(err.message).toContain('DELETE /api/v1/nodes/n1/peer')
    expect((await http(t2, 'GET', '/nodes/n1')).body.peerId).toBeUndefined()
    // an enrollment it sends (its journal reset) while no other machine holds the id binds it
    const again = await bareNode(t2.channelUrl, key, 'n1')
    await until(() => again.frames.some((f) => f.t === 'welcome'), 'enrolled again')
    expect((await http(t2, 'GET', '/nodes/n1')).body.peerId).toBe(peerIdFromPrivateKey(key).toString())
    again.ws.close()
  })

  it('is refused without the admin token, 404 for an unknown node, and changes nothing on an unbound one', async () => {
    const t = await h.tracker()
    await h.seed(t)
    await h.api(t, 'POST', '/nodes', { id: 'n2', campus: 'bj-1', labels: ['lab'] })
    const anonymous = await fetch(`${t.url}/api/v1/nodes/n2/peer`, { method: 'DELETE' })
    expect(anonymous.status).toBe(401)
    const wrong = await fetch(`${t.url}/api/v1/nodes/n2/peer`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${ENROLL}` },
    })
    expect(wrong.status).toBe(403)
    expect((await http(t, 'DELETE', '/nodes/nope/peer')).status).toBe(404)
    const res = await http(t, 'DELETE', '/nodes/n2/peer')
    expect(res.status).toBe(200)
    expect(res.body).toMatchObject({ id: 'n2', campus: 'bj-1', labels: ['lab'] })
    expect(res.body.unboundAt).toBeUndefined()
  })
})
