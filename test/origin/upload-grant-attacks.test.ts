/**
 * A lamp holding a valid upload grant (or an outsider) attacking a real origin over HTTP: it
 * must reach its own upload only, whatever the path, query or headers say, publish nothing a
 * browser would run, and never make the origin fail.
 */
import { request as httpRequest } from 'node:http'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { afterEach, describe, expect, it } from 'vitest'
import { grantUploadId, UploadGrantIssuer } from '../../node/upload-grant.ts'
import type { Origin } from '../../origin/index.ts'
import { Fixture, TOKEN, tusMetadata, tusRequest } from './utils.ts'

const fx = new Fixture()
afterEach(() => fx.cleanup())

const octets = { 'Content-Type': 'application/offset+octet-stream' }

/** An origin trusting a fresh issuer, with a studio lesson upload in progress (made with the token). */
async function classroom(): Promise<{
  origin: Origin
  rtc: UploadGrantIssuer
  lesson: string
  lessonId: string
}> {
  const rtc = new UploadGrantIssuer(await generateKeyPair('Ed25519'))
  const origin = await fx.origin({ grantIssuers: [rtc.id] })
  const res = await tusRequest(`${origin.url}/uploads`, 'POST', {
    'Upload-Length': '5000',
    'Upload-Metadata': tusMetadata({ name: 'grade3-math-07', type: 'video' }),
  })
  const lesson = res.headers.get('location')!
  return { origin, rtc, lesson, lessonId: lesson.split('/').pop()! }
}

/** A grant for `name`, and the upload it created. */
async function lampUpload(
  origin: Origin,
  rtc: UploadGrantIssuer,
  name: string,
): Promise<{ grant: string; id: string; url: string }> {
  const grant = rtc.issue({ name, type: 'image', max: 1000, ttlMs: 60_000 })
  const res = await tusRequest(
    `${origin.url}/uploads`,
    'POST',
    { 'Upload-Length': '1000', 'Upload-Metadata': tusMetadata({ name, type: 'image' }) },
    undefined,
    grant,
  )
  expect(res.status).toBe(201)
  const url = res.headers.get('location')!
  const jti = JSON.parse(Buffer.from(grant.split('.')[1], 'base64url').toString()).jti as string
  expect(url.endsWith(`/uploads/${grantUploadId(jti)}`)).toBe(true)
  return { grant, id: grantUploadId(jti), url }
}

/** A request with its path sent exactly as given (fetch would normalise `..` and `#`). */
function raw(base: string, method: string, path: string, headers: Record<string, string>): Promise<number> {
  const u = new URL(base)
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: u.hostname, port: u.port, method, path, headers }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode ?? 0))
    })
    req.on('error', reject)
    req.end()
  })
}

/** What the studio's upload looks like to the token holder. */
async function lessonState(lesson: string): Promise<{ status: number; offset: string | null }> {
  const res = await tusRequest(lesson, 'HEAD')
  return { status: res.status, offset: res.headers.get('upload-offset') }
}

describe('origin upload grants under attack', () => {
  it('keeps a grant on its own upload when the query string names another', async () => {
    const { origin, rtc, lesson, lessonId } = await classroom()
    const lamp = await lampUpload(origin, rtc, 'homework-lamp-1')
    // tus reads the id from the last `/` of the whole URL, query included
    const sneaky = `${lamp.url}?/${lessonId}`
    // the query string names nothing: each request acts on the lamp's own upload
    const head = await tusRequest(sneaky, 'HEAD', {}, undefined, lamp.grant)
    expect(head.headers.get('upload-length')).toBe('1000')
    const patch = await tusRequest(
      sneaky,
      'PATCH',
      { ...octets, 'Upload-Offset': '0' },
      new Uint8Array(10).fill(7),
      lamp.grant,
    )
    expect(patch.status).toBe(204)
    expect((await tusRequest(lamp.url, 'HEAD', {}, undefined, lamp.grant)).headers.get('upload-offset')).toBe(
      '10',
    )
    expect(await lessonState(lesson)).toEqual({ status: 200, offset: '0' })
    expect((await tusRequest(sneaky, 'DELETE', {}, undefined, lamp.grant)).status).toBe(204)
    expect((await tusRequest(lamp.url, 'HEAD', {}, undefined, lamp.grant)).status).toBe(404)
    expect(await lessonState(lesson)).toEqual({ status: 200, offset: '0' })
  })

  it('keeps a grant away from other uploads whatever the path looks like', async () => {
    const { origin, rtc, lesson, lessonId } = await classroom()
    const lamp = await lampUpload(origin, rtc, 'homework-lamp-2')
    const mine = lamp.id
    const paths = [
      `/uploads/${mine}?x=/${lessonId}`,
      `/uploads/${mine}?x=%2F${lessonId}`,
      `/uploads/${mine}/`,
      `//uploads/${lessonId}`,
      `/uploads//${lessonId}`,
      `/uploads/${mine}/${lessonId}`,
      `/uploads/${lessonId}/${mine}`,
      `/uploads/${mine}/../${lessonId}`,
      `/uploads/../uploads/${lessonId}`,
      `/uploads/${lessonId.toUpperCase()}`,
      `/uploads/%${lessonId.charCodeAt(0).toString(16)}${lessonId.slice(1)}`,
      `/uploads/${mine}%2F${lessonId}`,
      `/uploads/${mine}#/${lessonId}`,
      `/uploads/${mine};/${lessonId}`,
    ]
    const auth = { authorization: `Bearer ${lamp.grant}`, 'tus-resumable': '1.0.0' }
    for (const path of paths) {
      for (const method of ['HEAD', 'DELETE', 'GET', 'PUT', 'OPTIONS']) {
        const status = await raw(origin.url, method, path, auth)
        expect(status, `${method} ${path}`).toBeLessThan(500)
      }
      expect(await lessonState(lesson), path).toEqual({ status: 200, offset: '0' })
    }
  })

  it('reads absolute-form targets and odd Host headers as the plain request', async () => {
    const { origin, rtc, lesson, lessonId } = await classroom()
    const lamp = await lampUpload(origin, rtc, 'homework-lamp-5')
    const grant = { authorization: `Bearer ${lamp.grant}`, 'tus-resumable': '1.0.0' }
    const token = { authorization: `Bearer ${TOKEN}`, 'tus-resumable': '1.0.0' }
    expect(await raw(origin.url, 'HEAD', `http://school.example/uploads/${lamp.id}`, grant)).toBe(200)
    expect(await raw(origin.url, 'HEAD', `http://school.example/uploads/${lessonId}`, grant)).toBe(403)
    expect(await raw(origin.url, 'HEAD', `/uploads/${lamp.id}`, { ...grant, host: 'x:99999' })).toBe(200)
    expect(await raw(origin.url, 'HEAD', `/uploads/${lessonId}`, { ...token, host: 'x:99999' })).toBe(200)
    expect(await raw(origin.url, 'HEAD', `http://school.example/uploads/${lessonId}`, token)).toBe(200)
    expect(await lessonState(lesson)).toEqual({ status: 200, offset: '0' })
  })

  it('lets a grant publish only what browsers show as a picture or download', async () => {
    const { origin, rtc } = await classroom()
    const name = 'homework-lamp-3'
    const grant = rtc.issue({ name, type: 'image', max: 1000, ttlMs: 60_000 })
    const page = Buffer.from('<script>alert(document.domain)</script>')
    const create = (meta: Record<string, string>) =>
      tusRequest(
        `${origin.url}/uploads`,
        'POST',
        {
          ...octets,
          'Upload-Length': String(page.length),
          'Upload-Metadata': tusMetadata({ name, type: 'image', ...meta }),
        },
        page,
        grant,
      )
    const pages: Array<Record<string, string>> = [
      { filename: 'photo.html' },
      { mime: 'text/html' },
      { mime: 'image/svg+xml' },
      { mime: 'application/xhtml+xml' },
      { filename: 'photo.jpg', mime: 'text/html' },
    ]
    for (const meta of pages) {
      const res = await create(meta)
      expect(res.status, JSON.stringify(meta)).toBe(403)
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('ERR_GRANT_SCOPE')
    }
    expect((await fetch(`${origin.url}/resources/${name}/versions`)).status).toBe(404)
    // the refusals did not use the grant up
    const ok = await create({ filename: 'photo.jpg' })
    expect(ok.status).toBe(201)
    const served = await fetch(`${origin.url}/resources/${name}/versions/1/content`)
    expect(served.headers.get('content-type')).toBe('image/jpeg')
  })

  it('publishes at most one version per grant, also when the lamp terminates and starts again', async () => {
    const { origin, rtc } = await classroom()
    const name = 'homework-lamp-4'
    const first = await lampUpload(origin, rtc, name)
    await tusRequest(
      first.url,
      'PATCH',
      { ...octets, 'Upload-Offset': '0' },
      new Uint8Array(500),
      first.grant,
    )
    expect((await tusRequest(first.url, 'DELETE', {}, undefined, first.grant)).status).toBe(204)
    // a terminated upload published nothing: the lamp may start over with its grant
    const again = await tusRequest(
      `${origin.url}/uploads`,
      'POST',
      { ...octets, 'Upload-Length': '1000', 'Upload-Metadata': tusMetadata({ name, type: 'image' }) },
      new Uint8Array(1000).fill(1),
      first.grant,
    )
    expect(again.headers.get('dandelion-version')).toBe('1')
    // once published, the grant is spent: no terminate or re-create makes a second version
    const undo = await tusRequest(first.url, 'DELETE', {}, undefined, first.grant)
    expect(undo.status).toBe(409)
    expect(((await undo.json()) as { error: { code: string } }).error.code).toBe('ERR_GRANT_UPLOAD_FINISHED')
    const third = await tusRequest(
      `${origin.url}/uploads`,
      'POST',
      { ...octets, 'Upload-Length': '1000', 'Upload-Metadata': tusMetadata({ name, type: 'image' }) },
      new Uint8Array(1000).fill(2),
      first.grant,
    )
    expect(third.status).toBe(409)
    const versions = (await (await fetch(`${origin.url}/resources/${name}/versions`)).json()) as {
      versions: unknown[]
    }
    expect(versions.versions).toHaveLength(1)
  })

  it('answers odd grants and headers with 4xx, never 5xx, and keeps serving', async () => {
    const { origin, rtc, lesson } = await classroom()
    const post = (bearer: string, headers: Record<string, string>) =>
      tusRequest(`${origin.url}/uploads`, 'POST', headers, undefined, bearer)
    const meta = (name: string) => tusMetadata({ name, type: 'image' })
    // names only the issuer chooses: control characters, a lone surrogate, too long for a grant
    for (const name of ['a\nb', 'x\u0000', 'a\ud800b', '', 'z'.repeat(1500)]) {
      const grant = rtc.issue({ name, type: 'image', max: 1000, ttlMs: 60_000 })
      const res = await post(grant, { 'Upload-Length': '10', 'Upload-Metadata': meta(name) })
      expect(res.status, JSON.stringify(name)).toBeGreaterThanOrEqual(400)
      expect(res.status, JSON.stringify(name)).toBeLessThan(500)
    }
    for (const scope of [{ max: Number.NaN }, { max: 1.5 }, { max: -1 }, { ttlMs: Number.NaN }]) {
      const grant = rtc.issue({ name: 'n', type: 'image', max: 1000, ttlMs: 60_000, ...scope })
      const res = await post(grant, { 'Upload-Length': '10', 'Upload-Metadata': meta('n') })
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('ERR_INVALID_GRANT')
    }
    const grant = rtc.issue({ name: 'n', type: 'image', max: 1000, ttlMs: 60_000 })
    const odd: Array<Record<string, string>> = [
      { 'Upload-Length': '10', 'Upload-Metadata': 'name,,' },
      { 'Upload-Length': '10', 'Upload-Metadata': meta('n'), 'Upload-Concat': 'final;/uploads/a /uploads/b' },
      { 'Upload-Length': '99999999999999999999', 'Upload-Metadata': meta('n') },
      { 'Upload-Length': '-1', 'Upload-Metadata': meta('n') },
    ]
    for (const headers of odd) {
      const res = await post(grant, headers)
      expect(res.status, JSON.stringify(headers)).toBeGreaterThanOrEqual(400)
      expect(res.status, JSON.stringify(headers)).toBeLessThan(500)
    }
    // and the grant works afterwards (tus has no method override: this is a POST): one photo,
    // bytes beyond its declared length refused
    const created = await post(grant, {
      'Upload-Length': '10',
      'Upload-Metadata': meta('n'),
      'X-HTTP-Method-Override': 'DELETE',
    })
    expect(created.status).toBe(201)
    const url = created.headers.get('location')!
    const over = await tusRequest(
      url,
      'PATCH',
      { ...octets, 'Upload-Offset': '0' },
      new Uint8Array(11),
      grant,
    )
    expect(over.status).toBe(413)
    expect((await lessonState(lesson)).status).toBe(200)
  })
})
