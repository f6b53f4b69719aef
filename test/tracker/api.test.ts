import { afterEach, describe, expect, it } from 'vitest'
import { createAgent } from '../../node/agent/index.ts'
import { createTracker } from '../../tracker/index.ts'
import { MemoryContent } from '../node/agent/memory-content.ts'
import { ADMIN, ENROLL, Harness } from './harness.ts'

const h = new Harness()
afterEach(() => h.teardown())

describe('admin API', () => {
  it('answers 401 without a token and 403 with a wrong one', async () => {
    const t = await h.tracker()
    const none = await t.app.inject({ method: 'GET', url: '/api/v1/nodes' })
    expect(none.statusCode).toBe(401)
    expect(none.json().error.code).toBe('ERR_UNAUTHORIZED')
    const wrong = await t.app.inject({
      method: 'GET',
      url: '/api/v1/nodes',
      headers: { authorization: 'Bearer nope' },
    })
    expect(wrong.statusCode).toBe(403)
    expect(wrong.json().error.code).toBe('ERR_FORBIDDEN')
  })

  it('rejects invalid bodies, unknown keys and bad queries with ERR_VALIDATION', async () => {
    const t = await h.tracker()
    const auth = { authorization: `Bearer ${ADMIN}` }
    for (const payload of [{ id: 'bj' }, { id: 'bj', name: 'B', extra: 1 }, { id: 'has space', name: 'x' }]) {
      const res = await t.app.inject({ method: 'POST', url: '/api/v1/cities', headers: auth, payload })
      expect(res.statusCode).toBe(400)
      expect(res.json().error.code).toBe('ERR_VALIDATION')
    }
    const q = await t.app.inject({ method: 'GET', url: '/api/v1/nodes?limit=0', headers: auth })
    expect(q.statusCode).toBe(400)
    const op = await t.app.inject({ method: 'POST', url: '/api/v1/releases/abc/explode', headers: auth })
    expect(op.json().error.code).toBe('ERR_VALIDATION')
    const release = await t.app.inject({
      method: 'POST',
      url: '/api/v1/releases',
      headers: auth,
      payload: { resource: 'lesson', version: 1, targets: {}, stages: [{ percent: 150 }] },
    })
    expect(release.statusCode).toBe(400)
  })

  it('manages inventory and the version review workflow', async () => {
    const t = await h.tracker()
    await h.seed(t)
    await h.api(t, 'POST', '/nodes', { id: 'n1', campus: 'bj-1', labels: ['lab'] })
    expect(await h.api(t, 'GET', '/nodes/n1')).toMatchObject({ id: 'n1', city: 'bj', connected: false })
    await h.api(t, 'PATCH', '/nodes/n1', { labels: ['lab', 'gpu'] })
    expect((await h.api(t, 'GET', '/nodes')).map((n: { labels: string[] }) => n.labels)).toEqual([
      ['lab', 'gpu'],
    ])
    await h.api(t, 'POST', '/devices', { id: 'lamp-1', campus: 'bj-1', node: 'n1' })
    expect(await h.api(t, 'GET', '/devices')).toHaveLength(1)
    const del = await t.app.inject({
      method: 'DELETE',
      url: '/api/v1/cities/bj',
      headers: { authorization: `Bearer ${ADMIN}` },
    })
    expect(del.json().error.code).toBe('ERR_CONFLICT')
    expect(await h.api(t, 'GET', '/resources')).toEqual([
      { name: 'lesson', versions: 3, latest: 3, approved: 2 },
    ])
    const draft = await t.app.inject({
      method: 'POST',
      url: '/api/v1/releases',
      headers: { authorization: `Bearer ${ADMIN}` },
      payload: { resource: 'lesson', version: 3, targets: { nodes: ['n1'] } },
    })
    expect(draft.statusCode).toBe(409)
    expect(draft.json().error.code).toBe('ERR_VERSION_NOT_APPROVED')
    await h.api(t, 'POST', '/resources/lesson/versions/3/approve')
    const rel = await h.api(t, 'POST', '/releases', {
      resource: 'lesson',
      version: 3,
      targets: { nodes: ['n1'] },
    })
    expect((await h.api(t, 'GET', `/releases/${rel.id}`)).counts.pending).toBe(1)
    expect(await h.api(t, 'GET', `/releases/${rel.id}/nodes?state=pending`)).toMatchObject([
      { nodeId: 'n1', state: 'pending', city: 'bj', campus: 'bj-1', variant: 'A' },
    ])
    expect(await h.api(t, 'GET', `/releases/${rel.id}/nodes?state=active`)).toEqual([])
    const missing = await t.app.inject({
      method: 'GET',
      url: '/api/v1/nodes/ghost',
      headers: { authorization: `Bearer ${ADMIN}` },
    })
    expect(missing.json().error.code).toBe('ERR_NOT_FOUND')
  })

  it('validates the tracker and agent configuration', async () => {
    await expect(createTracker({ adminToken: 'short', enrollmentToken: ENROLL })).rejects.toMatchObject({
      code: 'ERR_INVALID_CONFIG',
    })
    await expect(
      createTracker({ adminToken: ADMIN, enrollmentToken: ENROLL, prot: 1 } as never),
    ).rejects.toThrow(/unknown option prot/)
    const { generateKeyPair } = await import('@libp2p/crypto/keys')
    const privateKey = await generateKeyPair('Ed25519')
    expect(() =>
      createAgent({ content: new MemoryContent(), privateKey }, { trackers: ['http://x/channel'] }),
    ).toThrow(/not ws:\/\/ or wss:\/\//)
  })

  it('serves the OpenAPI document and metrics', async () => {
    const t = await h.tracker()
    const doc = (await t.app.inject({ method: 'GET', url: '/api/docs' })).json()
    expect(doc.openapi).toBe('3.1.0')
    expect(Object.keys(doc.paths)).toContain('/api/v1/releases/{id}/{op}')
    expect(
      doc.paths['/api/v1/releases'].post.requestBody.content['application/json'].schema.required,
    ).toContain('targets')
    const metrics = await t.app.inject({ method: 'GET', url: '/metrics' })
    expect(metrics.body).toContain('dandelion_tracker_nodes_connected')
  })

  it('streams release events over SSE', async () => {
    const t = await h.tracker()
    await h.seed(t)
    await h.api(t, 'POST', '/nodes', { id: 'n1', campus: 'bj-1' })
    const ac = new AbortController()
    const res = await fetch(`${t.url}/api/v1/events`, {
      headers: { authorization: `Bearer ${ADMIN}` },
      signal: ac.signal,
    })
    expect(res.headers.get('content-type')).toBe('text/event-stream')
    const reader = res.body!.getReader()
    await reader.read() // the opening comment
    const rel = await h.api(t, 'POST', '/releases', {
      resource: 'lesson',
      version: 1,
      targets: { nodes: ['n1'] },
    })
    let text = ''
    while (!text.includes('release.stage')) text += new TextDecoder().decode((await reader.read()).value)
    expect(text).toContain('event: release.created')
    expect(text).toContain(rel.id)
    ac.abort()
  })
})
