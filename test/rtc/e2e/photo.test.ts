/**
 * Homework photo round trip: the teacher sends `capture-photo`, the server hands the lamp an
 * upload grant for that one photo, the lamp uploads over tus to a real origin that trusts the
 * server's grants, the teacher gets the URL in the ACK and the origin serves the same bytes
 * there. The lamp holds no origin token.
 */
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { afterEach, describe, expect, it } from 'vitest'
import { UploadGrantIssuer } from '../../../node/upload-grant.ts'
import { lampControls, uploadPhoto } from '../../../rtc/photo/upload.ts'
import type { PhotoUploadOffer } from '../../../rtc/signaling/messages.ts'
import { type Harness, spawn } from '../signaling/harness.ts'

const originIndex = fileURLToPath(new URL('../../../origin/index.ts', import.meta.url))
const ORIGIN_TOKEN = 'origin-upload-token'

let h: Harness | undefined
let origin: { url: string; close(): Promise<void> } | undefined
let dir: string | undefined
afterEach(async () => {
  await h?.teardown()
  await origin?.close()
  if (dir) await rm(dir, { recursive: true, force: true })
})

async function startOrigin(grantIssuers: string[] = []): Promise<{ url: string; close(): Promise<void> }> {
  dir = await mkdtemp(join(tmpdir(), 'rtc-photo-'))
  const { createOrigin } = (await import(originIndex)) as typeof import('../../../origin/index.ts')
  return createOrigin({ dataDir: dir, token: ORIGIN_TOKEN, port: 0, hashWorkers: 1, grantIssuers })
}

/** Stand-in for a camera: a JPEG-looking still of ~1.5 MB (more than one origin chunk). */
function still(size = 1_500_000): Buffer {
  const b = Buffer.alloc(size)
  for (let i = 0; i < b.length; i++) b[i] = (i * 31 + (i >> 9)) & 0xff
  b.set([0xff, 0xd8, 0xff, 0xe0], 0)
  return b
}

/** An origin trusting a fresh grant issuer, and a signaling server signing with it. */
async function classroom(photoMaxBytes?: number): Promise<Harness> {
  const grants = new UploadGrantIssuer(await generateKeyPair('Ed25519'))
  origin = await startOrigin([grants.id])
  h = await spawn({ origin: origin.url, photoMaxBytes }, undefined, grants)
  return h
}

describe('homework photo', () => {
  it.skipIf(!existsSync(originIndex))(
    'is captured by the lamp, uploaded with its one-photo grant and served by the origin',
    async () => {
      const h = await classroom()
      const photo = still()
      let shots = 0
      const t = await h.join('t', 'teacher', { room: 'r', kind: 'one-on-one' })
      const lamp = await h.join('lamp', 'student', {
        room: 'r',
        onControl: lampControls({
          camera: async () => {
            shots++
            return photo
          },
        }),
      })
      expect(lamp.origin).toBe(origin!.url)
      const ack = await t.control('lamp', { kind: 'capture-photo' })
      expect(ack.ok).toBe(true)
      const url = ack.result?.url ?? ''
      expect(url.startsWith(`${origin!.url}/resources/homework-lamp-`)).toBe(true)
      const res = await fetch(url)
      expect(res.status).toBe(200)
      expect(Buffer.from(await res.arrayBuffer()).equals(photo)).toBe(true)
      expect(shots).toBe(1)
      // a second photo is a second resource, with its own grant
      const second = await t.control('lamp', { kind: 'capture-photo' })
      expect(second.ok).toBe(true)
      expect(second.result?.url).not.toBe(url)
    },
  )

  it.skipIf(!existsSync(originIndex))(
    'gives the lamp a grant that cannot publish anything but that photo, once',
    async () => {
      const h = await classroom()
      const offers: PhotoUploadOffer[] = []
      const photos = lampControls({ camera: async () => still(2000) })
      const t = await h.join('t', 'teacher', { room: 'r', kind: 'one-on-one' })
      await h.join('lamp', 'student', {
        room: 'r',
        onControl: async (command, id, upload) => {
          if (upload !== undefined) offers.push(upload)
          return await photos(command, id, upload)
        },
      })
      expect((await t.control('lamp', { kind: 'capture-photo' })).ok).toBe(true)
      const [offer] = offers
      expect(offer.grant).not.toContain(ORIGIN_TOKEN)
      const init = { origin: offer.origin, token: offer.grant, retryDelays: [] }
      // a compromised lamp replacing a lesson every class plays
      const lesson = await uploadPhoto(init, still(2000), {
        name: 'grade3-math-07',
        filename: 'x.mp4',
      }).catch((e: unknown) => e)
      expect(lesson).toMatchObject({ name: 'PhotoUploadError', message: expect.stringContaining('403') })
      // or uploading its photo again as a new version
      const again = await uploadPhoto(init, still(2000), { name: offer.name, filename: 'x.jpg' }).catch(
        (e: unknown) => e,
      )
      expect(again).toMatchObject({ name: 'PhotoUploadError', message: expect.stringContaining('409') })
      const versions = await (await fetch(`${offer.origin}/resources/${offer.name}/versions`)).json()
      expect((versions as { versions: unknown[] }).versions).toHaveLength(1)
      expect((await fetch(`${offer.origin}/resources/grade3-math-07/versions`)).status).toBe(404)
    },
  )

  it.skipIf(!existsSync(originIndex))(
    "keeps the photo out of the origin's public listing, served at the teacher's URL",
    async () => {
      const h = await classroom()
      const t = await h.join('t', 'teacher', { room: 'r', kind: 'one-on-one' })
      await h.join('lamp', 'student', {
        room: 'r',
        onControl: lampControls({ camera: async () => still(2000) }),
      })
      const ack = await t.control('lamp', { kind: 'capture-photo' })
      expect(ack.ok).toBe(true)
      const url = ack.result?.url ?? ''
      const name = decodeURIComponent(new URL(url).pathname.split('/')[2])
      // anyone on the network who lists the origin finds no child's photo
      const open = (await (await fetch(`${origin!.url}/resources`)).json()) as { resources: unknown[] }
      expect(open.resources).toEqual([])
      // the studio's upload token sees it, marked
      const studio = (await (
        await fetch(`${origin!.url}/resources`, { headers: { Authorization: `Bearer ${ORIGIN_TOKEN}` } })
      ).json()) as { resources: unknown[] }
      expect(studio.resources).toEqual([
        { name, type: 'image', latestVersion: 1, versions: 1, private: true },
      ])
      // the teacher's URL is the way to it
      expect((await fetch(url)).status).toBe(200)
    },
  )

  it.skipIf(!existsSync(originIndex))('refuses a photo larger than its grant, with a clear ACK', async () => {
    const h = await classroom(1000)
    const t = await h.join('t', 'teacher', { room: 'r', kind: 'one-on-one' })
    await h.join('lamp', 'student', {
      room: 'r',
      onControl: lampControls({ camera: async () => still(5000) }),
    })
    const ack = await t.control('lamp', { kind: 'capture-photo' })
    expect(ack.ok).toBe(false)
    expect(ack.error).toContain('more than the 1000 its upload grant allows')
  })

  it('answers capture-photo with a clear error when the server hands out no grants', async () => {
    h = await spawn({})
    const t = await h.join('t', 'teacher', { room: 'r', kind: 'one-on-one' })
    await h.join('lamp', 'student', { room: 'r', onControl: lampControls({ camera: async () => still(10) }) })
    const ack = await t.control('lamp', { kind: 'capture-photo' })
    expect(ack).toMatchObject({ ok: false, error: expect.stringContaining('no upload grant') })
  })

  it.skipIf(!existsSync(originIndex))('reports a refused upload as a typed error', async () => {
    origin = await startOrigin()
    const err = await uploadPhoto({ origin: origin.url, token: 'wrong', retryDelays: [] }, Buffer.from('x'), {
      name: 'n',
      filename: 'n.jpg',
    }).catch((e: unknown) => e)
    expect(err).toMatchObject({ name: 'PhotoUploadError', code: 'ERR_PHOTO_UPLOAD' })
  })
})
