/**
 * `Idempotency-Key` on `POST /releases`: an operator's script, or `dandelion release
 * create`, that retries a create whose answer it lost must not start a second rollout of
 * the same lesson to the same schools.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import { runReleaseCommand } from '../../tracker/cli.ts'
import type { Tracker } from '../../tracker/index.ts'
import { ADMIN, Harness } from './harness.ts'

const h = new Harness()
afterEach(async () => {
  vi.restoreAllMocks()
  await h.teardown()
})

const NODES = ['n0', 'n1', 'n2', 'n3']

async function seeded(dataDir?: string): Promise<Tracker> {
  const t = await h.tracker({ dataDir })
  await h.seed(t)
  for (const id of NODES) await h.api(t, 'POST', '/nodes', { id, campus: 'bj-1' })
  return t
}

const create = (t: Tracker, body: object, key?: string) =>
  t.app.inject({
    method: 'POST',
    url: '/api/v1/releases',
    headers: { authorization: `Bearer ${ADMIN}`, ...(key === undefined ? {} : { 'idempotency-key': key }) },
    payload: body,
  })

const lesson = (version: number) => ({ resource: 'lesson', version, targets: { campuses: ['bj-1'] } })

/** `place` commands queued to the nodes, all releases together. */
const places = (t: Tracker): number =>
  NODES.flatMap((n) => [...t.state.outbox.entriesOf(n)]).filter((e) => e.cmd.op === 'place').length

describe('Idempotency-Key on release creation', () => {
  it('answers a retried create with the first release and starts no second rollout', async () => {
    const t = await seeded()
    const first = await create(t, lesson(2), '"8e03978e-40d5-43e8-bc93-6894a57f9324"')
    expect(first.statusCode).toBe(201)
    expect(first.headers['idempotent-replayed']).toBeUndefined()
    // the same request again, fields in another order, the key bare this time
    const retry = await create(
      t,
      { targets: { campuses: ['bj-1'] }, version: 2, resource: 'lesson' },
      '8e03978e-40d5-43e8-bc93-6894a57f9324',
    )
    expect(retry.statusCode).toBe(201)
    expect(retry.headers['idempotent-replayed']).toBe('true')
    expect(retry.json().id).toBe(first.json().id)
    expect(await h.api(t, 'GET', '/releases')).toHaveLength(1)
    expect(places(t)).toBe(NODES.length)
    // without a key, each create is a release of its own, as before (once the first no longer
    // waits on these nodes: two live releases of a lesson never share a node)
    await h.api(t, 'POST', `/releases/${first.json().id}/abort`)
    expect((await create(t, lesson(1))).statusCode).toBe(201)
    expect(await h.api(t, 'GET', '/releases')).toHaveLength(2)
  })

  it('refuses the key with a different request (422) and creates nothing', async () => {
    const t = await seeded()
    const first = await create(t, lesson(2), 'k-1')
    const other = await create(t, lesson(1), 'k-1')
    expect(other.statusCode).toBe(422)
    expect(other.json().error.code).toBe('ERR_IDEMPOTENCY_KEY_REUSED')
    expect(other.json().error.message).toContain(first.json().id)
    expect(await h.api(t, 'GET', '/releases')).toHaveLength(1)
  })

  it('remembers the key across a tracker restart', async () => {
    const dir = await h.tmp()
    const t1 = await seeded(dir)
    const first = await create(t1, lesson(2), 'k-restart')
    expect(first.statusCode).toBe(201)
    await t1.close()
    const t2 = await h.tracker({ dataDir: dir })
    const retry = await create(t2, lesson(2), 'k-restart')
    expect(retry.statusCode).toBe(201)
    expect(retry.headers['idempotent-replayed']).toBe('true')
    expect(retry.json().id).toBe(first.json().id)
    expect(await h.api(t2, 'GET', '/releases')).toHaveLength(1)
    expect(places(t2)).toBe(NODES.length)
  })

  it('lets only one of two simultaneous creates with one key create anything', async () => {
    const t = await seeded()
    const answers = await Promise.all([create(t, lesson(2), 'k-race'), create(t, lesson(2), 'k-race')])
    const ids = new Set<string>()
    for (const a of answers) {
      if (a.statusCode === 201) ids.add(a.json().id)
      else {
        // the other arrived while the first was being committed: told to retry
        expect(a.statusCode).toBe(409)
        expect(a.json().error.code).toBe('ERR_IDEMPOTENCY_KEY_IN_USE')
      }
    }
    expect(ids.size).toBe(1)
    expect(await h.api(t, 'GET', '/releases')).toHaveLength(1)
    expect(places(t)).toBe(NODES.length)
  })

  it('reads a quoted key with escapes as the draft writes it, the same key as its bare form', async () => {
    const t = await seeded()
    const first = await create(t, lesson(2), '"a\\"b\\\\c"')
    expect(first.statusCode).toBe(201)
    const retry = await create(t, lesson(2), 'a"b\\c')
    expect(retry.headers['idempotent-replayed']).toBe('true')
    expect(retry.json().id).toBe(first.json().id)
  })

  it('refuses a malformed key with 400 before creating anything', async () => {
    const t = await seeded()
    for (const key of ['has space', '""', 'x'.repeat(256)]) {
      const res = await create(t, lesson(2), key)
      expect(res.statusCode).toBe(400)
      expect(res.json().error.message).toContain('Idempotency-Key')
    }
    expect(await h.api(t, 'GET', '/releases')).toHaveLength(0)
  })

  it('is sent by `dandelion release create`: re-running it with the same key creates one release', async () => {
    const t = await seeded()
    let out = ''
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      out += chunk.toString()
      return true
    })
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true)
    const argv = ['create', '--tracker', t.url, '--token', ADMIN, '--resource', 'lesson', '--version', '2']
    const once = async (): Promise<string> => {
      out = ''
      expect(
        await runReleaseCommand([...argv, '--campuses', 'bj-1', '--idempotency-key', 'lesson-v2-bj']),
      ).toBe(0)
      return JSON.parse(out).id
    }
    const id = await once()
    expect(await once()).toBe(id)
    vi.restoreAllMocks()
    expect(await h.api(t, 'GET', '/releases')).toHaveLength(1)
  })
})
