/**
 * What an operations walkthrough found on day two, besides reconciliation: refusals and
 * config errors that name the remedy, a second tracker on the same data directory, when a
 * disconnected node was last seen, and A/B sides for late members.
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { afterEach, describe, expect, it } from 'vitest'
import { createTracker } from '../../tracker/index.ts'
import type { MemoryContent } from '../node/agent/memory-content.ts'
import { ADMIN, ENROLL, Harness, lessonCid, until } from './harness.ts'
import { bareNode } from './wire.ts'

const h = new Harness()
afterEach(() => h.teardown())

describe('day two', () => {
  it('refuses a second key for an enrolled node id naming the PeerId it is bound to and the remedy', async () => {
    const t = await h.tracker()
    await h.seed(t)
    const first = await generateKeyPair('Ed25519')
    const a = await bareNode(t.channelUrl, first, 'n1')
    await until(() => a.frames.some((f) => f.t === 'welcome'), 'first enrolled')
    const b = await bareNode(t.channelUrl, await generateKeyPair('Ed25519'), 'n1')
    await b.closed
    const err = b.frames.at(-1)
    expect(err).toMatchObject({ t: 'error', code: 'ERR_NODE_TAKEN' })
    const message = (err as { message: string }).message
    // node/daemon/cli.ts reads the id from this prefix
    expect(message.startsWith('node n1 is bound to another peer')).toBe(true)
    expect(message).toContain(peerIdFromPrivateKey(first).toString())
    expect(message).toContain('DELETE /api/v1/nodes/n1/peer')
    a.ws.close()
  })

  it('names the flag and the environment variable of a token that is too short', async () => {
    const base = { port: 0, adminToken: ADMIN, enrollmentToken: ENROLL }
    await expect(createTracker({ ...base, adminToken: 'short' })).rejects.toThrow(
      /--admin-token or DANDELION_ADMIN_TOKEN/,
    )
    await expect(createTracker({ ...base, enrollmentToken: 'short' })).rejects.toThrow(
      /--enrollment-token or DANDELION_ENROLLMENT_TOKEN/,
    )
  })

  it('refuses a second tracker on the same data directory with a typed error naming it', async () => {
    const dataDir = await h.tmp()
    const t = await h.tracker({ dataDir })
    const second = createTracker({ dataDir, port: 0, adminToken: ADMIN, enrollmentToken: ENROLL })
    await expect(second).rejects.toMatchObject({
      name: 'StateLockedError',
      code: 'ERR_STATE_LOCKED',
      message: expect.stringContaining(`another tracker is running on ${dataDir}`),
    })
    // the first one goes on serving
    expect((await h.api(t, 'GET', '/cities')).length).toBe(0)
    // once it stopped, the directory is free
    await t.close()
    const after = await h.tracker({ dataDir })
    expect(await h.api(after, 'GET', '/cities')).toEqual([])
  })

  it('shows when a disconnected node was last seen, after a restart too', async () => {
    const dataDir = await h.tmp()
    const t = await h.tracker({ dataDir })
    await h.seed(t)
    const n = await h.agent([t.channelUrl], 'n0', { campus: 'bj-1' })
    await until(() => n.agent.connected, 'connected')
    const before = Date.now()
    expect((await h.api(t, 'GET', '/nodes')).nodes[0]).toMatchObject({ id: 'n0', connected: true })
    await n.agent.stop()
    await until(async () => (await h.api(t, 'GET', '/nodes/n0')).connected === false, 'disconnected')
    await until(async () => (await h.api(t, 'GET', '/nodes')).nodes[0].lastSeenAt !== undefined, 'last seen')
    const seen = (await h.api(t, 'GET', '/nodes')).nodes[0].lastSeenAt
    expect(seen).toBeGreaterThanOrEqual(before)
    await t.close()
    const t2 = await h.tracker({ dataDir })
    expect((await h.api(t2, 'GET', '/nodes')).nodes[0]).toMatchObject({
      id: 'n0',
      connected: false,
      lastSeenAt: seen,
    })
  })

  it('gives each late member of an A/B release the side its stable assignment gives it', async () => {
    const t = await h.tracker()
    await h.seed(t)
    const early = await h.agent([t.channelUrl], 'e0', { campus: 'bj-1' })
    await until(() => early.agent.connected, 'connected')
    const rel = await h.api(t, 'POST', '/releases', {
      resource: 'lesson',
      version: 1,
      ab: { version: 2, percent: 50 },
      targets: { campuses: ['bj-1'] },
    })
    await until(
      async () => (await h.api(t, 'GET', `/releases/${rel.id}`)).release.status === 'completed',
      'completed',
    )
    const late = await Promise.all(
      Array.from({ length: 8 }, (_, i) => h.agent([t.channelUrl], `l${i}`, { campus: 'bj-1' })),
    )
    await until(async () => (await h.api(t, 'GET', `/releases/${rel.id}`)).counts.active === 9, 'all active')
    const members = (await h.api(t, 'GET', `/releases/${rel.id}/nodes`)).nodes
    for (const [i, n] of late.entries()) {
      const [view] = await h.api(t, 'GET', `/nodes/l${i}/resources`)
      const member = members.find((m: { nodeId: string }) => m.nodeId === `l${i}`)
      expect(member.variant).toBe(view.desired.variant)
      const cid = (n.content as MemoryContent).table.get('lesson')
      expect(cid).toBe(lessonCid(view.desired.variant === 'B' ? 2 : 1))
      expect(view).toMatchObject({ inSync: true, running: { manifestCid: cid } })
    }
  })
})
