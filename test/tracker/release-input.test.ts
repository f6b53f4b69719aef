/**
 * Release requests an operator or a script gets wrong, over real HTTP: each is refused
 * with a clear 4xx in the `{ error: { code, message } }` shape, and nothing is created.
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { runReleaseCommand } from '../../tracker/cli.ts'
import type { Tracker } from '../../tracker/index.ts'
import { ADMIN, Harness, lessonCid, until } from './harness.ts'
import { type ApiAnswer, bareNode, http } from './wire.ts'

const h = new Harness()
afterEach(async () => {
  vi.restoreAllMocks()
  await h.teardown()
})

/** A tracker on disk, seeded, with nodes n0 (bj-1) and n1 (sh-1) pre-registered. */
async function seeded(): Promise<Tracker> {
  const t = await h.tracker({ dataDir: await h.tmp() })
  await h.seed(t)
  await h.api(t, 'POST', '/nodes', { id: 'n0', campus: 'bj-1' })
  await h.api(t, 'POST', '/nodes', { id: 'n1', campus: 'sh-1' })
  return t
}

/** POSTs a raw JSON text to /releases (numbers JSON.stringify cannot write, such as 1e400). */
async function postRaw(t: Tracker, text: string): Promise<ApiAnswer> {
  const res = await fetch(`${t.url}/api/v1/releases`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
    body: text,
  })
  return { status: res.status, body: await res.json() }
}

const base = { resource: 'lesson', version: 1, targets: { cities: ['bj'] } }

async function expectRefused(t: Tracker, body: object, status: number, code: string): Promise<string> {
  const res = await http(t, 'POST', '/releases', body)
  expect(res.status, `${JSON.stringify(body)} → ${JSON.stringify(res.body)}`).toBe(status)
  expect(res.body.error.code).toBe(code)
  expect(typeof res.body.error.message).toBe('string')
  return res.body.error.message
}

describe('release input', () => {
  it('refuses targets naming an unknown city, campus or node, and creates nothing', async () => {
    const t = await seeded()
    // a typo among known ids used to be dropped silently: the release went to bj only
    expect(
      await expectRefused(t, { ...base, targets: { cities: ['bj', 'shh'] } }, 404, 'ERR_NOT_FOUND'),
    ).toContain('city shh')
    expect(
      await expectRefused(t, { ...base, targets: { campuses: ['bj-1', 'bj-9'] } }, 404, 'ERR_NOT_FOUND'),
    ).toContain('campus bj-9')
    expect(
      await expectRefused(
        t,
        { ...base, targets: { nodes: ['n0', 'ghost'], cities: ['x'] } },
        404,
        'ERR_NOT_FOUND',
      ),
    ).toMatch(/city x.*node ghost|node ghost.*city x/)
    expect((await http(t, 'GET', '/releases')).body).toEqual([])
    expect(t.state.outbox.stats()).toEqual({ queued: 0, unacked: 0 })
  })

  it('refuses an activation time or a version a node could not read, rather than wedge its channel', async () => {
    const t = await seeded()
    // a nanosecond timestamp: an integer JSON Schema accepts, but not a safe one for the node
    await expectRefused(t, { ...base, activateAt: 1.7e18 }, 400, 'ERR_VALIDATION')
    // past the last date a Date can hold
    await expectRefused(t, { ...base, activateAt: 8.64e15 + 1 }, 400, 'ERR_VALIDATION')
    // 1e400 parses to Infinity, which the integer type let through and JSON wrote as null
    for (const text of ['{"resource":"lesson","version":1,"targets":{"cities":["bj"]},"activateAt":1e400}'])
      expect(await postRaw(t, text)).toMatchObject({
        status: 400,
        body: { error: { code: 'ERR_VALIDATION' } },
      })
    const ver = await http(t, 'POST', '/resources/lesson/versions', {
      version: 1e17,
      manifestCid: lessonCid(9),
      size: 1,
      type: 'video',
    })
    expect(ver.status).toBe(400)
    expect(ver.body.error.code).toBe('ERR_VALIDATION')
    expect((await http(t, 'GET', '/releases')).body).toEqual([])
    expect((await http(t, 'GET', '/resources/lesson/versions')).body).toHaveLength(3)

    // the furthest date that is accepted reaches a node, which takes and ACKs it
    const node = await bareNode(t.channelUrl, await generateKeyPair('Ed25519'), 'n2')
    await until(() => t.channel.isConnected('n2'), 'n2 connected')
    node.ws.on('message', (data) => {
      const f = JSON.parse(data.toString())
      if (f.t === 'cmd') node.ws.send(JSON.stringify({ t: 'ack', seq: f.cmd.seq, id: f.cmd.id }))
    })
    const ok = await http(t, 'POST', '/releases', {
      ...base,
      targets: { nodes: ['n2'] },
      activateAt: 8.64e15,
    })
    expect(ok.status).toBe(201)
    await until(
      async () => (await http(t, 'GET', `/releases/${ok.body.id}`)).body.counts.fetching === 1,
      'ACKed',
    )
  })

  it('takes a body as JSON types it: no string, boolean or null is coerced', async () => {
    const t = await seeded()
    for (const body of [
      { ...base, version: true }, // was release v1
      { ...base, version: '1' },
      { ...base, activateAt: null }, // was activate at epoch 0, i.e. at once
      { ...base, ab: { version: 2, percent: null } }, // was an A/B split with no B
      { ...base, targets: { cities: 'bj' } },
      { ...base, stages: [{ percent: '50' }, { percent: 100 }] },
    ])
      await expectRefused(t, body, 400, 'ERR_VALIDATION')
    expect((await http(t, 'GET', '/releases')).body).toEqual([])
    // path and query parameters are text: they are still read as the numbers they spell
    expect((await http(t, 'GET', '/nodes?limit=1')).body.nodes).toHaveLength(1)
    expect((await http(t, 'POST', '/resources/lesson/versions/3/approve')).body.status).toBe('approved')
  })

  it('refuses an A/B split whose B side is the release’s own version', async () => {
    const t = await seeded()
    const msg = await expectRefused(t, { ...base, ab: { version: 1, percent: 50 } }, 400, 'ERR_VALIDATION')
    expect(msg).toContain('ab.version')
    expect((await http(t, 'GET', '/releases')).body).toEqual([])
  })

  it('is refused by `dandelion release create` when --activate-at is not a time', async () => {
    const t = await seeded()
    vi.spyOn(process.stdout, 'write').mockImplementation(() => true)
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true)
    // Date.parse gives NaN, which JSON writes as null: the tracker used to read 0, "now"
    await expect(
      runReleaseCommand([
        'create',
        ...['--tracker', t.url, '--token', ADMIN, '--resource', 'lesson', '--version', '1'],
        ...['--cities', 'bj', '--activate-at', 'next monday 8am'],
      ]),
    ).rejects.toMatchObject({ message: expect.stringContaining('activate') })
    vi.restoreAllMocks()
    expect((await http(t, 'GET', '/releases')).body).toEqual([])
  })
})
