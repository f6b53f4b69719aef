/**
 * What a device uploads with an upload grant (a child's homework photo) is private: left out of
 * the origin's listings unless the request bears the upload token, across restarts too, and
 * still served to whoever has its exact name, the URL the teacher was given.
 */
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { Upload } from '@tus/utils'
import { afterEach, describe, expect, it } from 'vitest'
import { FsChunkStore } from '../../node/store/index.ts'
import { UploadGrantIssuer } from '../../node/upload-grant.ts'
import { ChunkingDataStore } from '../../origin/chunking-store.ts'
import { Fixture, getJson, TOKEN, tusMetadata, tusRequest, uploadWhole } from './utils.ts'

const fx = new Fixture()
afterEach(() => fx.cleanup())

const PHOTO = 'homework-lamp-5f0c3a9d2b7e41c68a1f0e9d3c2b7a64'
const LESSON = 'grade3-math-07'
const octets = { 'Content-Type': 'application/offset+octet-stream' }

const issuer = async (): Promise<UploadGrantIssuer> => new UploadGrantIssuer(await generateKeyPair('Ed25519'))
const grantFor = (rtc: UploadGrantIssuer, name: string): string =>
  rtc.issue({ name, type: 'image', max: 100_000, ttlMs: 60_000 })
const bytes = (n: number, seed: number): Uint8Array => new Uint8Array(n).map((_, i) => (i * seed) & 0xff)

/** `GET /resources` with `bearer`, if any: the names listed and the whole answer. */
async function listing(
  url: string,
  bearer?: string,
): Promise<{ status: number; names: string[]; resources: Array<Record<string, unknown>> }> {
  const res = await fetch(`${url}/resources`, {
    headers: bearer === undefined ? {} : { Authorization: `Bearer ${bearer}` },
  })
  const body = (await res.json()) as { resources?: Array<Record<string, unknown>> }
  const resources = body.resources ?? []
  return { status: res.status, names: resources.map((r) => r.name as string), resources }
}

describe('private uploads', () => {
  it('lists a photo uploaded with a grant to the upload token only, marked private, and serves it at its URL', async () => {
    const rtc = await issuer()
    const origin = await fx.origin({ grantIssuers: [rtc.id] })
    const photo = bytes(3000, 7)
    const published = await uploadWhole(
      origin.url,
      grantFor(rtc, PHOTO),
      { name: PHOTO, type: 'image' },
      photo,
    )
    expect(published.headers.get('dandelion-version')).toBe('1')
    const lesson = bytes(5000, 3)
    await uploadWhole(origin.url, TOKEN, { name: LESSON, type: 'video' }, lesson)

    // anyone on the campus network: the lesson only
    const open = await listing(origin.url)
    expect(open.status).toBe(200)
    expect(open.names).toEqual([LESSON])
    // the studio, with the upload token: everything, the photo marked
    const studio = await listing(origin.url, TOKEN)
    expect(studio.resources).toEqual([
      { name: LESSON, type: 'video', latestVersion: 1, versions: 1 },
      { name: PHOTO, type: 'image', latestVersion: 1, versions: 1, private: true },
    ])
    // a wrong token, or the lamp's grant, is refused rather than answered with less
    expect((await listing(origin.url, 'not-the-token')).status).toBe(403)
    expect((await listing(origin.url, grantFor(rtc, PHOTO))).status).toBe(403)

    // the teacher's URL still serves the photo, and its name still reaches its versions and manifest
    const served = await fetch(`${origin.url}/resources/${PHOTO}/versions/1/content`)
    expect(served.status).toBe(200)
    expect(Buffer.from(await served.arrayBuffer()).equals(Buffer.from(photo))).toBe(true)
    const versions = await getJson(`${origin.url}/resources/${PHOTO}/versions`)
    expect(versions.resource).toMatchObject({ name: PHOTO, private: true })
    expect(versions.versions).toMatchObject([{ name: PHOTO, version: 1, private: true }])
    expect((await fetch(`${origin.url}/manifests/${versions.versions[0].manifestCid}`)).status).toBe(200)
    // the lesson is as public as before
    const lessonVersions = await getJson(`${origin.url}/resources/${LESSON}/versions`)
    expect(lessonVersions.versions).toHaveLength(1)
    expect(lessonVersions.versions[0]).not.toHaveProperty('private')
  })

  it('keeps photos private across restarts, also one whose upload finished after a restart', async () => {
    const rtc = await issuer()
    const dataDir = await fx.dir()
    let origin = await fx.origin({ dataDir, grantIssuers: [rtc.id] })
    await uploadWhole(origin.url, grantFor(rtc, PHOTO), { name: PHOTO, type: 'image' }, bytes(2000, 5))
    // a second lamp's photo, half uploaded when the origin goes down
    const second = 'homework-lamp2-0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e'
    const grant = grantFor(rtc, second)
    const photo = bytes(3000, 11)
    const created = await tusRequest(
      `${origin.url}/uploads`,
      'POST',
      { 'Upload-Length': '3000', 'Upload-Metadata': tusMetadata({ name: second, type: 'image' }) },
      undefined,
      grant,
    )
    expect(created.status).toBe(201)
    const path = new URL(created.headers.get('location')!).pathname
    const half = await tusRequest(
      `${origin.url}${path}`,
      'PATCH',
      { ...octets, 'Upload-Offset': '0' },
      photo.subarray(0, 1000),
      grant,
    )
    expect(half.status).toBe(204)
    await origin.close()

    origin = await fx.origin({ dataDir, grantIssuers: [rtc.id] })
    const rest = await tusRequest(
      `${origin.url}${path}`,
      'PATCH',
      { ...octets, 'Upload-Offset': '1000' },
      photo.subarray(1000),
      grant,
    )
    expect(rest.headers.get('dandelion-version')).toBe('1')
    await uploadWhole(origin.url, TOKEN, { name: LESSON, type: 'video' }, bytes(4000, 3))
    await origin.close()

    origin = await fx.origin({ dataDir, grantIssuers: [rtc.id] })
    expect((await listing(origin.url)).names).toEqual([LESSON])
    const studio = await listing(origin.url, TOKEN)
    expect(studio.resources.filter((r) => r.private === true).map((r) => r.name)).toEqual([PHOTO, second])
    const served = await fetch(`${origin.url}/resources/${second}/versions/1/content`)
    expect(Buffer.from(await served.arrayBuffer()).equals(Buffer.from(photo))).toBe(true)
  })

  it('publishes privately, at the next start, a photo upload a crash left complete but unpublished', async () => {
    const dataDir = await fx.dir()
    // the state a crash between the photo's last byte and the catalog commit leaves behind
    const store = new FsChunkStore({ dir: join(dataDir, 'store') })
    await store.start()
    const uploads = new ChunkingDataStore(
      { store, isPrivate: () => true },
      { dir: join(dataDir, 'uploads'), chunkSize: 256 * 1024, window: 4, expiryMs: 0 },
    )
    await mkdir(join(dataDir, 'uploads'), { recursive: true })
    const id = '00112233445566778899aabbccddeeff'
    const photo = bytes(300 * 1024, 13)
    await uploads.create(
      new Upload({ id, size: photo.byteLength, offset: 0, metadata: { name: PHOTO, type: 'image' } }),
    )
    await uploads.write(Readable.from([photo]), id, 0)
    await store.stop()

    const origin = await fx.origin({ dataDir })
    expect((await getJson(`${origin.url}/ingests/${id}`)).version).toMatchObject({
      name: PHOTO,
      private: true,
    })
    expect((await listing(origin.url)).names).toEqual([])
    expect((await listing(origin.url, TOKEN)).names).toEqual([PHOTO])
    const served = await fetch(`${origin.url}/resources/${PHOTO}/versions/1/content`)
    expect(Buffer.from(await served.arrayBuffer()).equals(Buffer.from(photo))).toBe(true)
  })

  it('lists the public versions of a public resource to all, and a private one under its name to the token only', async () => {
    const rtc = await issuer()
    const origin = await fx.origin({ grantIssuers: [rtc.id] })
    const name = 'homework-lamp-shared'
    await uploadWhole(origin.url, TOKEN, { name, type: 'image', filename: 'a.jpg' }, bytes(1000, 3))
    await uploadWhole(origin.url, grantFor(rtc, name), { name, type: 'image' }, bytes(1000, 5))
    const open = await getJson(`${origin.url}/resources/${name}/versions`)
    expect(open.versions.map((v: { version: number }) => v.version)).toEqual([1])
    const studio = (await (
      await fetch(`${origin.url}/resources/${name}/versions`, {
        headers: { Authorization: `Bearer ${TOKEN}` },
      })
    ).json()) as { versions: unknown[] }
    expect(studio.versions).toMatchObject([{ version: 1 }, { version: 2, private: true }])
    // one public version makes the resource public: listed, as it was before the photo
    expect((await listing(origin.url)).names).toEqual([name])
  })
})
