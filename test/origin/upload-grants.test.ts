/**
 * Upload grants at the origin: a device holding a grant signed by a trusted issuer (the rtc
 * server) uploads one file of bounded size as one resource, once, and nothing else.
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { afterEach, describe, expect, it } from 'vitest'
import { UploadGrantIssuer } from '../../node/upload-grant.ts'
import { loadOriginConfig } from '../../origin/config.ts'
import { Fixture, tusMetadata, tusRequest } from './utils.ts'

const fx = new Fixture()
afterEach(() => fx.cleanup())

const octets = { 'Content-Type': 'application/offset+octet-stream' }
const issuer = async (): Promise<UploadGrantIssuer> => new UploadGrantIssuer(await generateKeyPair('Ed25519'))

/** A POST creating an upload with `bearer`; with `body`, the whole file in the POST. */
async function create(
  url: string,
  bearer: string,
  o: {
    name?: string
    type?: string
    length?: number
    body?: Uint8Array
    headers?: Record<string, string>
  } = {},
): Promise<Response> {
  const length = o.length ?? o.body?.byteLength ?? 100
  return await tusRequest(
    `${url}/uploads`,
    'POST',
    {
      ...(o.body !== undefined ? octets : {}),
      'Upload-Length': String(length),
      'Upload-Metadata': tusMetadata({ name: o.name ?? 'homework-lamp-1', type: o.type ?? 'image' }),
      ...o.headers,
    },
    o.body,
    bearer,
  )
}

const errorCode = async (res: Response): Promise<string> =>
  ((await res.json()) as { error: { code: string } }).error.code

describe('origin upload grants', () => {
  it('lets a grant upload its one photo, in parts, and publishes it under the granted name', async () => {
    const rtc = await issuer()
    const origin = await fx.origin({ grantIssuers: [rtc.id] })
    const grant = rtc.issue({ name: 'homework-lamp-1', type: 'image', max: 10_000, ttlMs: 60_000 })
    const photo = new Uint8Array(3000).map((_, i) => i & 0xff)
    const created = await create(origin.url, grant, { length: photo.byteLength })
    expect(created.status).toBe(201)
    const location = created.headers.get('location')!
    const first = await tusRequest(
      location,
      'PATCH',
      { ...octets, 'Upload-Offset': '0' },
      photo.subarray(0, 1000),
      grant,
    )
    expect(first.status).toBe(204)
    // a lamp resuming after a dropped connection asks where it stands
    const head = await tusRequest(location, 'HEAD', {}, undefined, grant)
    expect(head.headers.get('upload-offset')).toBe('1000')
    const last = await tusRequest(
      location,
      'PATCH',
      { ...octets, 'Upload-Offset': '1000' },
      photo.subarray(1000),
      grant,
    )
    expect(last.status).toBe(204)
    expect(last.headers.get('dandelion-version')).toBe('1')
    const served = await fetch(`${origin.url}/resources/homework-lamp-1/versions/1/content`)
    expect(Buffer.from(await served.arrayBuffer()).equals(Buffer.from(photo))).toBe(true)
  })

  it('refuses a second upload with the same grant, also after a restart', async () => {
    const rtc = await issuer()
    const dataDir = await fx.dir()
    let origin = await fx.origin({ dataDir, grantIssuers: [rtc.id] })
    const grant = rtc.issue({ name: 'homework-lamp-2', type: 'image', max: 10_000, ttlMs: 60_000 })
    const body = new Uint8Array(500).fill(1)
    const name = 'homework-lamp-2'
    // two lamps (or one lamp retrying blindly) racing with one grant: one upload only
    const raced = await Promise.all([
      create(origin.url, grant, { name, body }),
      create(origin.url, grant, { name, body }),
    ])
    expect(raced.map((r) => r.status).sort()).toEqual([201, 409])
    const again = await create(origin.url, grant, { name, body: new Uint8Array(500).fill(2) })
    expect(again.status).toBe(409)
    expect(await errorCode(again)).toBe('ERR_GRANT_USED')
    await origin.close()
    origin = await fx.origin({ dataDir, grantIssuers: [rtc.id] })
    const afterRestart = await create(origin.url, grant, { name, body: new Uint8Array(500).fill(3) })
    expect(afterRestart.status).toBe(409)
    const versions = await (await fetch(`${origin.url}/resources/homework-lamp-2/versions`)).json()
    expect((versions as { versions: unknown[] }).versions).toHaveLength(1)
    const served = await fetch(`${origin.url}/resources/homework-lamp-2/versions/1/content`)
    expect(Buffer.from(await served.arrayBuffer()).equals(Buffer.from(body))).toBe(true)
  })

  it('refuses anything beyond the grant: another name, type or size, or a deferred length', async () => {
    const rtc = await issuer()
    const origin = await fx.origin({ grantIssuers: [rtc.id] })
    const grant = rtc.issue({ name: 'homework-lamp-3', type: 'image', max: 1000, ttlMs: 60_000 })
    const cases: Array<Parameters<typeof create>[2]> = [
      // a lesson every class plays, overwritten by a lamp
      { name: 'grade3-math-07', type: 'video' },
      { name: 'grade3-math-07' },
      { type: 'video' },
      { length: 1001 },
      { headers: { 'Upload-Length': '', 'Upload-Defer-Length': '1' } },
    ]
    for (const c of cases) {
      const res = await create(origin.url, grant, c)
      expect(res.status, JSON.stringify(c)).toBe(403)
      expect(await errorCode(res)).toBe('ERR_GRANT_SCOPE')
    }
    // none of them used the grant up
    expect((await create(origin.url, grant, { name: 'homework-lamp-3', length: 1000 })).status).toBe(201)
  })

  it('keeps a grant away from other uploads and from the rest of the API', async () => {
    const rtc = await issuer()
    const origin = await fx.origin({ grantIssuers: [rtc.id] })
    // a studio upload in progress, made with the upload token
    const lesson = await tusRequest(`${origin.url}/uploads`, 'POST', {
      'Upload-Length': '5000',
      'Upload-Metadata': tusMetadata({ name: 'grade3-math-07', type: 'video' }),
    })
    const lessonUrl = lesson.headers.get('location')!
    const grant = rtc.issue({ name: 'homework-lamp-4', type: 'image', max: 1000, ttlMs: 60_000 })
    for (const [method, headers, body] of [
      ['PATCH', { ...octets, 'Upload-Offset': '0' }, new Uint8Array(10)],
      ['HEAD', {}, undefined],
      ['DELETE', {}, undefined],
    ] as const) {
      const res = await tusRequest(lessonUrl, method, headers, body, grant)
      expect(res.status, method).toBe(403)
    }
    expect((await tusRequest(`${origin.url}/uploads`, 'GET', {}, undefined, grant)).status).toBe(403)
    // the studio's upload is untouched
    const head = await tusRequest(lessonUrl, 'HEAD')
    expect(head.status).toBe(200)
    expect(head.headers.get('upload-offset')).toBe('0')
  })

  it('refuses expired, forged, tampered and untrusted grants, and every grant where no issuer is trusted', async () => {
    const rtc = await issuer()
    const stranger = await issuer()
    const origin = await fx.origin({ grantIssuers: [rtc.id] })
    const scope = { name: 'homework-lamp-5', type: 'image' as const, max: 1000 }
    const expired = rtc.issue({ ...scope, ttlMs: 60_000 }, Date.now() - 120_000)
    const untrusted = stranger.issue({ ...scope, ttlMs: 60_000 })
    const good = rtc.issue({ ...scope, ttlMs: 60_000 })
    const [prefix, payload, sig] = good.split('.')
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString())
    const bigger = Buffer.from(JSON.stringify({ ...claims, max: 10 ** 9 })).toString('base64url')
    const tampered = `${prefix}.${bigger}.${sig}`
    const forged = `${prefix}.${payload}.${untrusted.split('.')[2]}`
    for (const bearer of [expired, untrusted, tampered, forged, 'dgrant1.garbage']) {
      const res = await create(origin.url, bearer)
      expect(res.status).toBe(403)
      expect(await errorCode(res)).toBe('ERR_INVALID_GRANT')
    }
    const closed = await fx.origin()
    const res = await create(closed.url, good)
    expect(res.status).toBe(403)
    expect(await errorCode(res)).toBe('ERR_INVALID_GRANT')
    // the upload token works as before
    expect(
      (
        await tusRequest(`${origin.url}/uploads`, 'POST', {
          'Upload-Length': '10',
          'Upload-Metadata': tusMetadata({ name: 'x', type: 'file' }),
        })
      ).status,
    ).toBe(201)
  })

  it('reads trusted issuers from flags and environment, and refuses one that is not a PeerId', async () => {
    const rtc = await issuer()
    const other = await issuer()
    const fromEnv = await loadOriginConfig({}, { DANDELION_ORIGIN_GRANT_ISSUERS: `${rtc.id},${other.id}` })
    expect(fromEnv.grantIssuers).toEqual([rtc.id, other.id])
    const fromFlags = await loadOriginConfig({ grantIssuers: [rtc.id] }, {})
    expect(fromFlags.grantIssuers).toEqual([rtc.id])
    await expect(loadOriginConfig({ grantIssuers: ['not-a-peer-id'] }, {})).rejects.toMatchObject({
      name: 'InvalidConfigError',
      message: expect.stringContaining('grantIssuers'),
    })
  })
})
