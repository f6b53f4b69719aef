import { afterEach, describe, expect, it } from 'vitest'
import { createAgent } from '../../node/agent/index.ts'
import { chunkCid } from '../../node/content/index.ts'
import { createTracker, type Tracker } from '../../tracker/index.ts'
import { MemoryContent } from '../node/agent/memory-content.ts'
import { ADMIN, ENROLL, fakeManifestCid, Harness } from './harness.ts'

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
    expect((await h.api(t, 'GET', '/nodes')).nodes.map((n: { labels: string[] }) => n.labels)).toEqual([
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
    expect((await h.api(t, 'GET', `/releases/${rel.id}/nodes?state=pending`)).nodes).toMatchObject([
      { nodeId: 'n1', state: 'pending', city: 'bj', campus: 'bj-1', variant: 'A' },
    ])
    expect(await h.api(t, 'GET', `/releases/${rel.id}/nodes?state=active`)).toEqual({ nodes: [] })
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
    // Prometheus naming: `_total` is a counter's suffix (promtool flags a gauge named so);
    // prom-client's own process metrics (`nodejs_active_handles_total`, a gauge) aside
    const types = new Map(
      [...metrics.body.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1], m[2]] as const),
    )
    for (const [name, type] of types)
      if (name.endsWith('_total') && !/^dandelion_tracker_(nodejs|process)_/.test(name))
        expect(type, name).toBe('counter')
    for (const name of ['commands_sent', 'commands_retransmitted', 'acks', 'outcomes', 'auth_failures'])
      expect(types.get(`dandelion_tracker_${name}_total`), name).toBe('counter')
  })

  /**
   * Opens an SSE stream of the admin API. `until(marker)` reads until the text so far holds
   * `marker` and fails if the stream ends first; every read is bounded by the fetch's timeout.
   */
  async function openEvents(t: Tracker, path: string) {
    const ac = new AbortController()
    const res = await fetch(`${t.url}/api/v1${path}`, {
      headers: { authorization: `Bearer ${ADMIN}` },
      signal: AbortSignal.any([ac.signal, AbortSignal.timeout(20_000)]),
    })
    const reader = res.body!.getReader()
    const decoder = new TextDecoder()
    let text = ''
    return {
      res,
      close: () => ac.abort(),
      async until(marker: string): Promise<string> {
        while (!text.includes(marker)) {
          const { done, value } = await reader.read()
          if (done) throw new Error(`event stream ended before ${JSON.stringify(marker)}: ${text}`)
          text += decoder.decode(value, { stream: true })
        }
        return text
      },
    }
  }

  /** The `data` of every complete event in an SSE text. */
  const eventsIn = (text: string): Array<{ type: string; releaseId: string }> =>
    text
      .split('\n\n')
      .flatMap((block) => block.split('\n').filter((l) => l.startsWith('data: ')))
      .map((l) => JSON.parse(l.slice('data: '.length)))

  it('streams release events over SSE', async () => {
    const t = await h.tracker()
    await h.seed(t)
    await h.api(t, 'POST', '/nodes', { id: 'n1', campus: 'bj-1' })
    const events = await openEvents(t, '/events')
    try {
      expect(events.res.headers.get('content-type')).toBe('text/event-stream')
      await events.until('\n\n') // the opening comment
      const rel = await h.api(t, 'POST', '/releases', {
        resource: 'lesson',
        version: 1,
        targets: { nodes: ['n1'] },
      })
      const text = await events.until('event: release.stage')
      expect(text).toContain('event: release.created')
      expect(text).toContain(rel.id)
    } finally {
      events.close()
    }
  })

  it('streams only its own release on /releases/:id/events', async () => {
    const t = await h.tracker()
    await h.seed(t)
    await h.api(t, 'POST', '/nodes', { id: 'n1', campus: 'bj-1' })
    await h.api(t, 'POST', '/nodes', { id: 'n2', campus: 'sh-1' })
    const mine = await h.api(t, 'POST', '/releases', {
      resource: 'lesson',
      version: 1,
      targets: { nodes: ['n1'] },
    })
    const events = await openEvents(t, `/releases/${mine.id}/events`)
    try {
      await events.until('\n\n') // the opening comment: subscribed
      // another release's events come first; the stream must skip them
      const other = await h.api(t, 'POST', '/releases', {
        resource: 'lesson',
        version: 2,
        targets: { nodes: ['n2'] },
      })
      await h.api(t, 'POST', `/releases/${other.id}/pause`)
      await h.api(t, 'POST', `/releases/${mine.id}/pause`)
      const text = await events.until('event: release.status')
      expect(text).not.toContain(other.id)
      expect(eventsIn(text)).toEqual([
        expect.objectContaining({ type: 'release.status', releaseId: mine.id, status: 'paused' }),
      ])
    } finally {
      events.close()
    }
    const unknown = await call(t, 'GET', '/releases/no-such-release/events')
    expect(unknown).toMatchObject({ status: 404, body: { error: { code: 'ERR_NOT_FOUND' } } })
  })

  /** Calls the admin API and returns status and JSON body, whatever the status. */
  async function call(t: Tracker, method: string, url: string, payload?: object) {
    const res = await t.app.inject({
      method: method as 'GET',
      url: `/api/v1${url}`,
      headers: { authorization: `Bearer ${ADMIN}` },
      payload,
    })
    return { status: res.statusCode, body: res.body === '' ? undefined : res.json() }
  }

  it('refuses reserved ids and counts odd campus ids as themselves', async () => {
    const t = await h.tracker()
    await h.seed(t)
    for (const id of ['__proto__', 'constructor', 'prototype']) {
      const city = await call(t, 'POST', '/cities', { id, name: 'x' })
      expect(city).toMatchObject({ status: 400, body: { error: { code: 'ERR_RESERVED_ID' } } })
      const campus = await call(t, 'POST', '/campuses', { id, city: 'bj', name: 'x' })
      expect(campus).toMatchObject({ status: 400, body: { error: { code: 'ERR_RESERVED_ID' } } })
      expect(await call(t, 'POST', '/nodes', { id })).toMatchObject({ status: 400 })
      expect(await call(t, 'POST', '/devices', { id })).toMatchObject({ status: 400 })
    }
    expect(await h.api(t, 'GET', '/cities')).toHaveLength(2)
    // a status report keyed by campus and city ids held before they were refused (as loaded
    // from disk: in the writers' state and in what readers see)
    for (const { inventory } of [t.state, t.state.committed]) {
      inventory.cities.set('constructor', { id: 'constructor', name: 'legacy' })
      inventory.campuses.set('__proto__', { id: '__proto__', city: 'constructor', name: 'legacy' })
      inventory.nodes.set('n-old', { id: 'n-old', campus: '__proto__', labels: [] })
    }
    try {
      const rel = await h.api(t, 'POST', '/releases', {
        resource: 'lesson',
        version: 1,
        targets: { nodes: ['n-old'] },
      })
      const status = await h.api(t, 'GET', `/releases/${rel.id}`)
      expect(Object.entries(status.campuses)).toEqual([
        ['__proto__', expect.objectContaining({ pending: 1 })],
      ])
      expect(Object.entries(status.cities)).toEqual([
        ['constructor', expect.objectContaining({ pending: 1 })],
      ])
      expect(Object.hasOwn(Object.prototype, 'pending')).toBe(false)
      // schemas that refuse unknown keys still accept good bodies
      expect(await call(t, 'POST', '/cities', { id: 'gz', name: 'Guangzhou' })).toMatchObject({ status: 201 })
    } finally {
      delete (Object.prototype as Record<string, unknown>).pending
    }
  })

  it('refuses stages whose last one is below 100 percent', async () => {
    const t = await h.tracker()
    await h.seed(t)
    for (const i of [0, 1, 2]) await h.api(t, 'POST', '/nodes', { id: `n${i}`, campus: 'bj-1' })
    const targets = { campuses: ['bj-1'] }
    for (const stages of [[{ percent: 5, gate: 'manual' }], [{ percent: 10 }, { percent: 50 }]]) {
      const res = await call(t, 'POST', '/releases', { resource: 'lesson', version: 1, targets, stages })
      expect(res).toMatchObject({ status: 400, body: { error: { code: 'ERR_FINAL_STAGE_NOT_FULL' } } })
    }
    const down = await call(t, 'POST', '/releases', {
      resource: 'lesson',
      version: 1,
      targets,
      stages: [{ percent: 50 }, { percent: 20 }, { percent: 100 }],
    })
    expect(down).toMatchObject({ status: 400, body: { error: { code: 'ERR_VALIDATION' } } })
    expect(await h.api(t, 'GET', '/releases')).toEqual([])
    expect(t.state.outbox.stats().queued).toBe(0)
    const ok = await h.api(t, 'POST', '/releases', {
      resource: 'lesson',
      version: 1,
      targets,
      stages: [{ percent: 5, gate: 'manual' }, { percent: 100 }],
    })
    expect(
      (await h.api(t, 'GET', `/releases/${ok.id}`)).stages.map((s: { nodes: number }) => s.nodes),
    ).toEqual([1, 2])
  })

  it('refuses a version whose manifest CID or MIME type is malformed', async () => {
    const t = await h.tracker()
    const version = { version: 1, size: 10, type: 'video' }
    const bad = [
      [{ manifestCid: 'not-a-cid-at-all' }, 'ERR_INVALID_MANIFEST_CID'],
      // a chunk id is not a manifest id
      [{ manifestCid: chunkCid(new Uint8Array([1])).toString() }, 'ERR_INVALID_MANIFEST_CID'],
      [{ manifestCid: fakeManifestCid('x'), mime: '\u0000bogus' }, 'ERR_INVALID_MIME_TYPE'],
      [{ manifestCid: fakeManifestCid('x'), mime: 'video' }, 'ERR_INVALID_MIME_TYPE'],
    ] as const
    for (const [fields, code] of bad) {
      const res = await call(t, 'POST', '/resources/lesson/versions', { ...version, ...fields })
      expect(res).toMatchObject({ status: 400, body: { error: { code } } })
    }
    expect(await h.api(t, 'GET', '/resources')).toEqual([])
    const good = await call(t, 'POST', '/resources/lesson/versions', {
      ...version,
      manifestCid: fakeManifestCid('x'),
      mime: 'video/mp4',
    })
    expect(good).toMatchObject({ status: 201, body: { status: 'draft', mime: 'video/mp4' } })
  })

  it('refuses to delete a node a live release still waits on', async () => {
    const t = await h.tracker()
    await h.seed(t)
    await h.api(t, 'POST', '/nodes', { id: 'n1', campus: 'bj-1' })
    const rel = (await h.api(t, 'POST', '/releases', {
      resource: 'lesson',
      version: 1,
      targets: { campuses: ['bj-1'] },
    })) as { id: string }
    const res = await call(t, 'DELETE', '/nodes/n1')
    expect(res).toMatchObject({ status: 409, body: { error: { code: 'ERR_NODE_IN_RELEASE' } } })
    expect(JSON.stringify(res.body)).toContain(rel.id)
    // once the release is over, the node can go
    await h.api(t, 'POST', `/releases/${rel.id}/abort`)
    expect(await call(t, 'DELETE', '/nodes/n1')).toMatchObject({ status: 204 })
  })

  it('refuses to delete a campus that still has nodes or devices', async () => {
    const t = await h.tracker()
    await h.seed(t)
    await h.api(t, 'POST', '/nodes', { id: 'n1', campus: 'bj-1' })
    await h.api(t, 'POST', '/devices', { id: 'lamp-1', campus: 'bj-2' })
    for (const campus of ['bj-1', 'bj-2']) {
      const res = await call(t, 'DELETE', `/campuses/${campus}`)
      expect(res).toMatchObject({ status: 409, body: { error: { code: 'ERR_CAMPUS_IN_USE' } } })
    }
    // the node still works with its campus
    expect(await call(t, 'PATCH', '/nodes/n1', { labels: ['lab'] })).toMatchObject({ status: 200 })
    await h.api(t, 'DELETE', '/nodes/n1')
    await h.api(t, 'DELETE', '/devices/lamp-1')
    expect(await call(t, 'DELETE', '/campuses/bj-1')).toMatchObject({ status: 204 })
    expect(await call(t, 'DELETE', '/campuses/bj-2')).toMatchObject({ status: 204 })
  })
})
