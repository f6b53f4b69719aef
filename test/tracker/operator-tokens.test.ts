/**
 * Operator tokens (`POST /api/v1/operators`): each person or script of an operations team acts
 * with a token of their own and its role, the audit trail names them, the tracker's admin
 * token alone issues and revokes them, a revoked or expired one is refused saying so; kept as a
 * hash across a restart and a backup's restore. Real tracker on disk, the API over HTTP.
 */
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import type { Tracker } from '../../tracker/index.ts'
import { restoreBackup } from '../../tracker/state/backup.ts'
import { Harness, until } from './harness.ts'
import { type ApiAnswer, http } from './wire.ts'

const h = new Harness()
afterEach(() => h.teardown())

/** Calls `/api/v1<path>` over HTTP with `token`. */
async function as(
  t: Tracker,
  token: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<ApiAnswer> {
  const res = await fetch(`${t.url}/api/v1${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  const text = await res.text()
  return { status: res.status, body: text === '' ? undefined : JSON.parse(text) }
}

/** Issues an operator token with the admin token; its answer's body. */
async function issue(t: Tracker, body: object): Promise<{ name: string; id: string; token: string }> {
  const res = await http(t, 'POST', '/operators', body)
  expect(res.status, JSON.stringify(res.body)).toBe(201)
  return res.body
}

/** Every file under `dir`, as latin1 text. */
async function everything(dir: string): Promise<string> {
  let text = ''
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true }))
    if (e.isFile()) text += await readFile(join(e.parentPath, e.name), 'latin1')
  return text
}

/** The audit trail, newest first, once it holds `n` entries (its records are not synced). */
async function trail(t: Tracker, n: number, query = ''): Promise<Array<Record<string, unknown>>> {
  await until(
    async () => (await http(t, 'GET', `/audit?limit=1000${query}`)).body.length >= n,
    `${n} entries`,
  )
  return (await http(t, 'GET', `/audit?limit=1000${query}`)).body
}

describe('operator tokens', () => {
  it('act with their role, are named in the audit trail, and only the admin token manages them', {
    timeout: 30_000,
  }, async () => {
    const dataDir = await h.tmp()
    let t = await h.tracker({ dataDir })
    await h.seed(t)
    const alice = await issue(t, { name: 'alice', role: 'admin' })
    const dash = await issue(t, { name: 'dash.board', role: 'viewer' })
    expect(alice).toMatchObject({ name: 'alice', role: 'admin', state: 'active' })
    expect(alice.token).toMatch(/^dop_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/)
    expect(alice).not.toHaveProperty('hash')
    expect(alice).not.toHaveProperty('expiresAt')
    // one active token per name
    const again = await http(t, 'POST', '/operators', { name: 'alice', role: 'viewer' })
    expect(again.status).toBe(409)
    expect(again.body.error).toMatchObject({ code: 'ERR_OPERATOR_NAME_IN_USE' })

    // alice changes what the admin token changes
    expect((await as(t, alice.token, 'POST', '/cities', { id: 'gz', name: 'Guangzhou' })).status).toBe(201)
    expect((await as(t, alice.token, 'POST', '/resources/lesson/versions/3/approve')).status).toBe(200)
    expect((await as(t, alice.token, 'GET', '/nodes')).status).toBe(200)
    // the viewer reads, and changes nothing, saying why
    for (const path of ['/nodes', '/audit', '/operators', '/enrollment-tokens'])
      expect((await as(t, dash.token, 'GET', path)).status).toBe(200)
    for (const [method, path, body] of [
      ['POST', '/cities', { id: 'wh', name: 'Wuhan' }],
      ['DELETE', '/cities/gz', undefined],
      ['POST', '/operators', { name: 'mallory', role: 'admin' }],
      ['DELETE', '/operators/alice', undefined],
    ] as const) {
      const res = await as(t, dash.token, method, path, body)
      expect(res.status).toBe(403)
      expect(res.body.error).toMatchObject({
        code: 'ERR_FORBIDDEN',
        message: expect.stringContaining('only reads'),
      })
    }
    // an admin operator neither issues nor revokes operator tokens, but lists them
    for (const [method, path, body] of [
      ['POST', '/operators', { name: 'mallory', role: 'admin' }],
      ['DELETE', '/operators/dash.board', undefined],
    ] as const) {
      const res = await as(t, alice.token, method, path, body)
      expect(res.status).toBe(403)
      expect(res.body.error).toMatchObject({
        code: 'ERR_FORBIDDEN',
        message: expect.stringContaining("tracker's own admin token only"),
      })
    }
    expect((await as(t, alice.token, 'GET', '/operators')).body).toHaveLength(2)
    // a forged secret for a real id, or a token never issued, is a wrong token
    const forged = `${alice.token.slice(0, 21)}${'A'.repeat(43)}`
    expect((await as(t, forged, 'GET', '/nodes')).body.error.code).toBe('ERR_FORBIDDEN')
    await h.api(t, 'POST', '/cities', { id: 'sz', name: 'Shenzhen' })

    // the trail: who made each change; the seed and the issuance by the admin token
    const entries = await trail(t, 15)
    const who = entries.map((e) => `${e.actor} ${e.method} ${e.route}`)
    expect(who.slice(0, 3)).toEqual([
      'admin-token POST /api/v1/cities',
      'alice POST /api/v1/resources/:name/versions/:version/approve',
      'alice POST /api/v1/cities',
    ])
    expect(who).toContain('admin-token POST /api/v1/operators')
    expect(entries.filter((e) => e.actor === undefined)).toEqual([])
    // nothing of the issued tokens is in the trail: the answer is not recorded
    for (const secret of [alice.token, dash.token])
      expect(JSON.stringify(entries)).not.toContain(secret.slice(21))
    const byAlice = await http(t, 'GET', '/audit?actor=alice')
    expect(byAlice.body.map((e: { params?: unknown }) => e.params)).toEqual([
      { name: 'lesson', version: 3 },
      undefined,
    ])
    expect((await http(t, 'GET', '/audit?actor=Not%20A%20Name')).status).toBe(400)

    // the list: roles, last use, never a token or its hash
    const list = (await http(t, 'GET', '/operators')).body as Array<Record<string, unknown>>
    expect(list).toEqual([
      expect.objectContaining({
        name: 'alice',
        role: 'admin',
        state: 'active',
        lastUsedAt: expect.any(Number),
      }),
      expect.objectContaining({ name: 'dash.board', role: 'viewer', state: 'active' }),
    ])
    expect(list[0]).not.toHaveProperty('hash')
    expect(JSON.stringify(list)).not.toContain(alice.token.slice(21))
    expect((await http(t, 'GET', '/metrics')).body).toMatch(/dandelion_tracker_operator_tokens_active 2\n/)

    // nothing on disk holds a secret; after a restart the tokens act and are named as before
    await t.close()
    const disk = await everything(dataDir)
    expect(disk).toContain(alice.id)
    for (const secret of [alice.token, dash.token]) expect(disk).not.toContain(secret.slice(21))
    t = await h.tracker({ dataDir })
    expect((await as(t, alice.token, 'POST', '/cities', { id: 'wh', name: 'Wuhan' })).status).toBe(201)
    expect((await as(t, dash.token, 'POST', '/cities', { id: 'cd', name: 'Chengdu' })).status).toBe(403)
    expect((await trail(t, 3, '&actor=alice'))[0]).toMatchObject({
      route: '/api/v1/cities',
      body: expect.stringContaining('wh'),
    })
  })

  it('are refused once revoked, saying so, and can be issued anew; a backup restores them as they were', {
    timeout: 30_000,
  }, async () => {
    const dataDir = await h.tmp()
    let t = await h.tracker({ dataDir })
    await h.seed(t)
    const alice = await issue(t, { name: 'alice', role: 'admin' })
    const bot = await issue(t, { name: 'deploy-bot', role: 'admin' })
    expect((await as(t, bot.token, 'POST', '/cities', { id: 'gz', name: 'Guangzhou' })).status).toBe(201)

    expect((await http(t, 'DELETE', '/operators/deploy-bot')).status).toBe(204)
    // its very next request is refused, a read as well as a change
    for (const [method, path] of [
      ['GET', '/nodes'],
      ['DELETE', '/cities/gz'],
    ] as const) {
      const res = await as(t, bot.token, method, path)
      expect(res.status).toBe(401)
      expect(res.body.error).toMatchObject({ code: 'ERR_OPERATOR_TOKEN_REVOKED' })
      expect(res.body.error.message).toMatch(/deploy-bot was revoked at \S+Z: ask .* for a new one/)
    }
    // the others' tokens go on working
    expect((await as(t, alice.token, 'GET', '/nodes')).status).toBe(200)
    const gone = await http(t, 'DELETE', '/operators/deploy-bot')
    expect(gone.status).toBe(404)
    expect(gone.body.error.message).toContain('no token left to revoke')
    expect((await http(t, 'DELETE', '/operators/nobody')).status).toBe(404)
    // the revocation is in the trail, by the admin token
    await until(
      async () => (await trail(t, 1, '&actor=admin-token'))[0]?.method === 'DELETE',
      'revocation recorded',
    )
    expect((await trail(t, 1, '&actor=admin-token'))[0]).toMatchObject({
      route: '/api/v1/operators/:name',
      params: { name: 'deploy-bot' },
      status: 204,
    })

    // a new token for the name: the old stays refused
    const bot2 = await issue(t, { name: 'deploy-bot', role: 'viewer' })
    expect((await as(t, bot2.token, 'GET', '/nodes')).status).toBe(200)
    expect((await as(t, bot.token, 'GET', '/nodes')).status).toBe(401)
    expect(
      ((await http(t, 'GET', '/operators')).body as Array<{ name: string; state: string }>).map(
        (o) => `${o.name} ${o.state}`,
      ),
    ).toEqual(['alice active', 'deploy-bot revoked', 'deploy-bot active'])

    // backed up, restored into another directory: the same tokens, revoked or not
    const backup = await http(t, 'POST', '/backups')
    expect(backup.status).toBe(201)
    await t.close()
    const restored = await h.tmp()
    await restoreBackup(join(dataDir, 'backups', backup.body.name), restored)
    t = await h.tracker({ dataDir: restored })
    expect((await as(t, alice.token, 'POST', '/cities', { id: 'wh', name: 'Wuhan' })).status).toBe(201)
    expect((await as(t, bot2.token, 'GET', '/nodes')).status).toBe(200)
    expect((await as(t, bot.token, 'GET', '/nodes')).body.error.code).toBe('ERR_OPERATOR_TOKEN_REVOKED')
    expect((await trail(t, 1, '&actor=alice'))[0]).toMatchObject({ route: '/api/v1/cities' })
  })

  it('expire after ttlSeconds, refused saying so; the name may then be issued anew', {
    timeout: 30_000,
  }, async () => {
    const t = await h.tracker()
    const brief = await issue(t, { name: 'contractor', role: 'admin', ttlSeconds: 2 })
    expect((await as(t, brief.token, 'GET', '/nodes')).status).toBe(200)
    const issued = (await http(t, 'GET', '/operators')).body[0]
    expect(issued.expiresAt - issued.createdAt).toBe(2000)
    await until(
      async () => (await as(t, brief.token, 'GET', '/nodes')).status === 401,
      'token expired',
      5_000,
    )
    const res = await as(t, brief.token, 'POST', '/cities', { id: 'gz', name: 'Guangzhou' })
    expect(res.status).toBe(401)
    expect(res.body.error).toMatchObject({ code: 'ERR_OPERATOR_TOKEN_EXPIRED' })
    expect(res.body.error.message).toMatch(/contractor expired at \S+Z: ask .* for a new one/)
    expect((await http(t, 'GET', '/operators')).body[0]).toMatchObject({ state: 'expired' })
    expect((await http(t, 'GET', '/metrics')).body).toMatch(/dandelion_tracker_operator_tokens_active 0\n/)
    const next = await issue(t, { name: 'contractor', role: 'admin' })
    expect((await as(t, next.token, 'POST', '/cities', { id: 'gz', name: 'Guangzhou' })).status).toBe(201)
  })

  it('are issued with a safe name, a role and bounds, by the admin token only', async () => {
    const t = await h.tracker({ viewerToken: 'viewer-token-for-tests' })
    expect((await fetch(`${t.url}/api/v1/operators`, { method: 'POST' })).status).toBe(401)
    const viewer = await as(t, 'viewer-token-for-tests', 'POST', '/operators', { name: 'eve', role: 'admin' })
    expect(viewer.status).toBe(403)
    for (const bad of [
      { name: 'Alice', role: 'admin' },
      { name: 'a b', role: 'admin' },
      { name: '-x', role: 'admin' },
      { name: 'x'.repeat(65), role: 'admin' },
      { name: 'bob', role: 'root' },
      { name: 'bob' },
      { name: 'bob', role: 'admin', ttlSeconds: 0 },
      { name: 'bob', role: 'admin', ttlSeconds: 400 * 24 * 3600 },
      { name: 'bob', role: 'admin', token: 'mine' },
    ])
      expect((await http(t, 'POST', '/operators', bad)).status, JSON.stringify(bad)).toBe(400)
    // the trail's names of the tracker's own tokens are no operator's
    for (const name of ['admin-token', 'viewer-token'])
      expect((await http(t, 'POST', '/operators', { name, role: 'viewer' })).body.error.code).toBe(
        'ERR_RESERVED_ID',
      )
    expect((await http(t, 'GET', '/operators')).body).toEqual([])
  })
})
