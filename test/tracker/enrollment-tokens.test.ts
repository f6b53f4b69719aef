/**
 * Enrollment tokens an operator issues through the admin API: held to a campus, for a number
 * of nodes, expiring and revocable, kept across restarts as a hash only. Real tracker on disk,
 * real agents and bare channel clients over loopback WebSockets, the API over HTTP.
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { afterEach, describe, expect, it } from 'vitest'
import type { ServerFrame } from '../../node/agent/protocol.ts'
import { trackerInitFromArgs } from '../../tracker/cli-tracker-args.ts'
import { ENROLL, Harness, until } from './harness.ts'
import { bareNode, http } from './wire.ts'

const h = new Harness()
afterEach(() => h.teardown())

/** The last frame a bare node got (its refusal, or its welcome) once its connection ended or was welcomed. */
async function answer(url: string, nodeId: string, campus: string, token: string): Promise<ServerFrame> {
  const n = await bareNode(url, await generateKeyPair('Ed25519'), nodeId, campus, { token })
  await until(() => n.frames.some((f) => f.t === 'welcome' || f.t === 'error'), `answer to ${nodeId}`)
  const last = n.frames.find((f) => f.t === 'welcome' || f.t === 'error') as ServerFrame
  n.ws.close()
  return last
}

describe('issued enrollment tokens', () => {
  it('enroll nodes into the campus they are held to, as many as they were issued for, across a restart', {
    timeout: 30_000,
  }, async () => {
    const dataDir = await h.tmp()
    let t = await h.tracker({ dataDir })
    await h.seed(t)
    const issued = await http(t, 'POST', '/enrollment-tokens', { campus: 'bj-2', maxUses: 2, note: 'rack 2' })
    expect(issued.status).toBe(201)
    expect(issued.body).toMatchObject({
      campus: 'bj-2',
      maxUses: 2,
      uses: 0,
      state: 'active',
      note: 'rack 2',
    })
    expect(issued.body.token).toMatch(/^det_[0-9a-f]{16}_/)
    expect(issued.body.hash).toBeUndefined()
    const { id, token } = issued.body as { id: string; token: string }
    expect((await http(t, 'GET', '/metrics')).body).toMatch(/dandelion_tracker_enrollment_tokens_active 1\n/)

    // a node started without --campus lands in the token's campus; one naming it too
    const a = await h.agent([t.channelUrl], 'n0', { token })
    const b = await h.agent([t.channelUrl], 'n1', { token, campus: 'bj-2' })
    await until(() => a.agent.connected && b.agent.connected, 'both enrolled')
    expect((await http(t, 'GET', '/nodes/n0')).body).toMatchObject({
      campus: 'bj-2',
      city: 'bj',
      connected: true,
    })
    expect((await http(t, 'GET', '/nodes/n1')).body).toMatchObject({ campus: 'bj-2' })

    // a third is refused, and says why and what to do
    const third = await answer(t.channelUrl, 'n2', 'bj-2', token)
    expect(third).toMatchObject({ t: 'error', code: 'ERR_ENROLLMENT_TOKEN_USED_UP' })
    expect((third as { message: string }).message).toContain('2 node(s)')
    expect((await http(t, 'GET', '/nodes/n2')).status).toBe(404)

    // used up: no longer counted active
    expect((await http(t, 'GET', '/metrics')).body).toMatch(/dandelion_tracker_enrollment_tokens_active 0\n/)
    // the list shows its state and uses, never the token or its hash
    const list = (await http(t, 'GET', '/enrollment-tokens')).body as Array<Record<string, unknown>>
    expect(list).toEqual([
      expect.objectContaining({ id, uses: 2, state: 'used-up', lastNodeId: expect.any(String) }),
    ])
    expect(JSON.stringify(list)).not.toContain(token.slice(-43))
    expect(list[0]).not.toHaveProperty('hash')

    // after a restart: the count holds (still refused), the enrolled nodes come back by their key
    await t.close()
    t = await h.tracker({ dataDir, port: Number(new URL(t.url).port) })
    await until(() => a.agent.connected && b.agent.connected, 'enrolled nodes back')
    expect((await http(t, 'GET', `/enrollment-tokens/${id}`)).body).toMatchObject({
      uses: 2,
      state: 'used-up',
    })
    expect(await answer(t.channelUrl, 'n3', 'bj-2', token)).toMatchObject({
      code: 'ERR_ENROLLMENT_TOKEN_USED_UP',
    })
  })

  it('refuses a node of another campus, also one registered there beforehand, without using the token', {
    timeout: 30_000,
  }, async () => {
    const t = await h.tracker({ dataDir: await h.tmp() })
    await h.seed(t)
    const { id, token } = (await http(t, 'POST', '/enrollment-tokens', { campus: 'bj-1' })).body
    const other = await answer(t.channelUrl, 'n0', 'sh-1', token)
    expect(other).toMatchObject({ t: 'error', code: 'ERR_ENROLLMENT_TOKEN_CAMPUS' })
    expect((other as { message: string }).message).toContain('campus bj-1 only, not sh-1')
    // registered in bj-2 by an operator: its campus is what the token must allow
    expect((await http(t, 'POST', '/nodes', { id: 'pre', campus: 'bj-2' })).status).toBe(201)
    const pre = await h.agent([t.channelUrl], 'pre', { token })
    const codes: string[] = []
    pre.agent.on('refused', ({ code }) => codes.push(code))
    await until(() => codes.includes('ERR_ENROLLMENT_TOKEN_CAMPUS'), 'registered node refused')
    expect((await http(t, 'GET', '/nodes/pre')).body.peerId).toBeUndefined()
    expect((await http(t, 'GET', `/enrollment-tokens/${id}`)).body).toMatchObject({
      uses: 0,
      state: 'active',
    })
    // the same node in the token's campus enrolls
    const ok = await answer(t.channelUrl, 'n4', 'bj-1', token)
    expect(ok).toMatchObject({ t: 'welcome' })
  })

  it('enroll nothing once revoked or expired, or with a wrong secret; the nodes they enrolled stay', {
    timeout: 30_000,
  }, async () => {
    const t = await h.tracker({ dataDir: await h.tmp() })
    await h.seed(t)
    const long = (await http(t, 'POST', '/enrollment-tokens', {})).body
    const short = (await http(t, 'POST', '/enrollment-tokens', { ttlSeconds: 1 })).body
    expect(long.expiresAt - long.createdAt).toBe(7 * 24 * 3600 * 1000)
    expect(long.maxUses).toBeUndefined()
    const n0 = await h.agent([t.channelUrl], 'n0', { token: long.token, campus: 'bj-1' })
    await until(() => n0.agent.connected, 'n0 enrolled')

    // the right id with another secret is a bad token, as an unknown one is
    const forged = `${long.token.slice(0, 21)}${'A'.repeat(43)}`
    expect(await answer(t.channelUrl, 'n1', 'bj-1', forged)).toMatchObject({
      code: 'ERR_BAD_ENROLLMENT_TOKEN',
    })

    expect((await http(t, 'DELETE', `/enrollment-tokens/${long.id}`)).status).toBe(204)
    expect((await http(t, 'GET', `/enrollment-tokens/${long.id}`)).status).toBe(404)
    expect(await answer(t.channelUrl, 'n2', 'bj-1', long.token)).toMatchObject({
      code: 'ERR_BAD_ENROLLMENT_TOKEN',
    })
    // revoking stops enrollments, not the nodes enrolled
    expect(n0.agent.connected).toBe(true)
    expect((await http(t, 'GET', '/nodes/n0')).body).toMatchObject({ connected: true })

    await until(
      async () => (await http(t, 'GET', `/enrollment-tokens/${short.id}`)).body.state === 'expired',
      'short token expired',
      5_000,
    )
    const expired = await answer(t.channelUrl, 'n3', 'bj-1', short.token)
    expect(expired).toMatchObject({ t: 'error', code: 'ERR_ENROLLMENT_TOKEN_EXPIRED' })
    expect((expired as { message: string }).message).toContain('new one')
  })

  it('are the only way in on a tracker started without a shared token', { timeout: 30_000 }, async () => {
    const t = await h.tracker({ dataDir: await h.tmp(), enrollmentToken: undefined })
    await h.seed(t)
    // whatever a node sends as a shared token, there is none to match
    for (const token of [ENROLL, 'undefined'])
      expect(await answer(t.channelUrl, 'n0', 'bj-1', token)).toMatchObject({
        code: 'ERR_BAD_ENROLLMENT_TOKEN',
      })
    const { token } = (await http(t, 'POST', '/enrollment-tokens', { campus: 'bj-1' })).body
    expect(await answer(t.channelUrl, 'n0', 'bj-1', token)).toMatchObject({ t: 'welcome' })
    // the command line takes no shared token as none
    const args = trackerInitFromArgs(['--admin-token', 'admin-token-x'], {})
    expect(args.enrollmentToken).toBeUndefined()
    expect('enrollmentToken' in args).toBe(false)
  })

  it('give the last use of a token to one of two nodes enrolling at once', { timeout: 30_000 }, async () => {
    const t = await h.tracker({ dataDir: await h.tmp() })
    await h.seed(t)
    const { token } = (await http(t, 'POST', '/enrollment-tokens', { maxUses: 1 })).body
    const both = await Promise.all([
      answer(t.channelUrl, 'r0', 'bj-1', token),
      answer(t.channelUrl, 'r1', 'bj-1', token),
    ])
    expect(both.map((f) => (f.t === 'error' ? f.code : f.t)).sort()).toEqual([
      'ERR_ENROLLMENT_TOKEN_USED_UP',
      'welcome',
    ])
  })

  it('are issued and revoked by the operator only, for a campus that exists, within bounds', async () => {
    const t = await h.tracker()
    await h.seed(t)
    const anonymous = await fetch(`${t.url}/api/v1/enrollment-tokens`, { method: 'POST' })
    expect(anonymous.status).toBe(401)
    expect((await http(t, 'POST', '/enrollment-tokens', { campus: 'nowhere' })).body.error.code).toBe(
      'ERR_NOT_FOUND',
    )
    for (const bad of [{ ttlSeconds: 0 }, { maxUses: 0 }, { ttlSeconds: 400 * 24 * 3600 }, { city: 'bj' }])
      expect((await http(t, 'POST', '/enrollment-tokens', bad)).status).toBe(400)
    expect((await http(t, 'DELETE', '/enrollment-tokens/0123456789abcdef')).status).toBe(404)
    expect((await http(t, 'GET', '/enrollment-tokens')).body).toEqual([])
    // no body at all: the defaults
    const res = await fetch(`${t.url}/api/v1/enrollment-tokens`, {
      method: 'POST',
      headers: { authorization: 'Bearer admin-token-for-tests' },
    })
    expect(res.status).toBe(201)
  })
})
