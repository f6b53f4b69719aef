/**
 * A grant holder that lost track of its upload (a lamp restarted, or the answer to its creation
 * was lost) asks the origin again with the same grant: the 409 names the grant's upload, whose
 * HEAD tells whether it was published (and as which version); an unfinished one the grant holder
 * may terminate and create again, with other bytes. A finished one stays: one version per grant.
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { afterEach, describe, expect, it } from 'vitest'
import { grantUploadId, UploadGrantIssuer } from '../../node/upload-grant.ts'
import { Fixture, getJson, tusMetadata, tusRequest, uploadWhole } from './utils.ts'

const fx = new Fixture()
afterEach(() => fx.cleanup())

const octets = { 'Content-Type': 'application/offset+octet-stream' }

/** A POST creating an upload of `length` bytes named `name` with `grant`, empty. */
async function create(url: string, grant: string, name: string, length: number): Promise<Response> {
  return await tusRequest(
    `${url}/uploads`,
    'POST',
    { 'Upload-Length': String(length), 'Upload-Metadata': tusMetadata({ name, type: 'image' }) },
    undefined,
    grant,
  )
}

const errorCode = async (res: Response): Promise<string> =>
  ((await res.json()) as { error: { code: string } }).error.code

/** An origin trusting a fresh issuer, and a grant for `name`. */
async function lamp(name: string): Promise<{ url: string; grant: string; uploadId: string }> {
  const rtc = new UploadGrantIssuer(await generateKeyPair('Ed25519'))
  const origin = await fx.origin({ grantIssuers: [rtc.id] })
  const grant = rtc.issue({ name, type: 'image', max: 10_000, ttlMs: 60_000 })
  const jti = JSON.parse(Buffer.from(grant.split('.')[1], 'base64url').toString()).jti as string
  return { url: origin.url, grant, uploadId: grantUploadId(jti) }
}

describe('origin upload grants after a lost upload', () => {
  it('names the unfinished upload; its grant holder starts it over with a new photo, published once', async () => {
    const name = 'homework-lamp-1'
    const { url, grant, uploadId } = await lamp(name)
    const old = new Uint8Array(5000).fill(1)
    const created = await create(url, grant, name, old.byteLength)
    expect(created.status).toBe(201)
    const upload = created.headers.get('location')!
    const part = await tusRequest(
      upload,
      'PATCH',
      { ...octets, 'Upload-Offset': '0' },
      old.subarray(0, 2000),
      grant,
    )
    expect(part.status).toBe(204)
    // the lamp restarts, and creates again with the same grant
    const fresh = new Uint8Array(3000).fill(2)
    const again = await create(url, grant, name, fresh.byteLength)
    expect(again.status).toBe(409)
    const location = again.headers.get('location')
    expect(location).toBe(`/uploads/${uploadId}`)
    expect(await errorCode(again)).toBe('ERR_GRANT_USED')
    const named = new URL(location!, `${url}/uploads`).href
    expect(named).toBe(upload)
    // unfinished: no version, 2000 of 5000 bytes
    const head = await tusRequest(named, 'HEAD', {}, undefined, grant)
    expect(head.status).toBe(200)
    expect(head.headers.get('dandelion-version')).toBeNull()
    expect([head.headers.get('upload-offset'), head.headers.get('upload-length')]).toEqual(['2000', '5000'])
    // its own photo is not the old one: it starts over rather than appending
    expect((await tusRequest(named, 'DELETE', {}, undefined, grant)).status).toBe(204)
    const recreated = await uploadWhole(url, grant, { name, type: 'image' }, fresh)
    expect(recreated.status).toBe(201)
    expect(recreated.headers.get('dandelion-version')).toBe('1')
    const served = await fetch(`${url}/resources/${name}/versions/1/content`)
    expect(Buffer.from(await served.arrayBuffer()).equals(Buffer.from(fresh))).toBe(true)
    // still private, as what a grant uploads is
    expect((await getJson(`${url}/resources`)).resources).toEqual([])
  })

  it('reports a published upload with its version and never lets its grant undo or redo it', async () => {
    const name = 'homework-lamp-2'
    const { url, grant, uploadId } = await lamp(name)
    const photo = new Uint8Array(3000).fill(3)
    expect((await uploadWhole(url, grant, { name, type: 'image' }, photo)).status).toBe(201)
    // the lamp died before ACKing; back up, it finds out what it published
    const again = await uploadWhole(url, grant, { name, type: 'image' }, new Uint8Array(100).fill(4))
    expect(again.status).toBe(409)
    const location = new URL(again.headers.get('location')!, `${url}/uploads`).href
    expect(location).toBe(`${url}/uploads/${uploadId}`)
    const head = await tusRequest(location, 'HEAD', {}, undefined, grant)
    expect(head.status).toBe(200)
    expect(decodeURIComponent(head.headers.get('dandelion-resource') ?? '')).toBe(name)
    expect(head.headers.get('dandelion-version')).toBe('1')
    expect(head.headers.get('upload-offset')).toBe('3000')
    // terminating it, to publish another photo with the same grant, is refused
    const del = await tusRequest(location, 'DELETE', {}, undefined, grant)
    expect(del.status).toBe(409)
    expect(await errorCode(del)).toBe('ERR_GRANT_UPLOAD_FINISHED')
    expect((await uploadWhole(url, grant, { name, type: 'image' }, new Uint8Array(10))).status).toBe(409)
    expect((await getJson(`${url}/resources/${name}/versions`)).versions).toHaveLength(1)
    const served = await fetch(`${url}/resources/${name}/versions/1/content`)
    expect(Buffer.from(await served.arrayBuffer()).equals(Buffer.from(photo))).toBe(true)
  })

  it('refuses to terminate an upload whose every byte arrived, even before it is published', async () => {
    const name = 'homework-lamp-3'
    const { url, grant } = await lamp(name)
    const created = await create(url, grant, name, 0)
    expect(created.status).toBe(201)
    const upload = created.headers.get('location')!
    // an empty photo is complete at creation: published at once or by its first HEAD
    const del = await tusRequest(upload, 'DELETE', {}, undefined, grant)
    expect(del.status).toBe(409)
    expect(await errorCode(del)).toBe('ERR_GRANT_UPLOAD_FINISHED')
    const head = await tusRequest(upload, 'HEAD', {}, undefined, grant)
    expect(head.headers.get('dandelion-version')).toBe('1')
  })
})
