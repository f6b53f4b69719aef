/**
 * Homework photo round trip: the teacher sends `capture-photo`, the server hands the lamp an
 * upload grant for that one photo, the lamp uploads over tus to a real origin that trusts the
 * server's grants, the teacher gets the URL in the ACK and the origin serves the same bytes
 * there. The lamp holds no origin token.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { lampControls, uploadPhoto, uploadWithGrant } from '../../../rtc/photo/upload.ts'
import type { PhotoUploadOffer } from '../../../rtc/signaling/messages.ts'
import { type Harness, spawn } from '../signaling/harness.ts'
import {
  HAS_ORIGIN,
  ORIGIN_TOKEN,
  classroom as startClassroom,
  startOrigin,
  still,
  type TestOrigin,
} from './classroom.ts'

let h: Harness | undefined
let origin: TestOrigin | undefined
afterEach(async () => {
  await h?.teardown()
  await origin?.close()
  h = undefined
  origin = undefined
})

/** An origin trusting a fresh grant issuer, and a signaling server signing with it. */
async function classroom(photoMaxBytes?: number): Promise<Harness> {
  ;({ h, origin } = await startClassroom(photoMaxBytes))
  return h
}

describe('homework photo', () => {
  it.skipIf(!HAS_ORIGIN)(
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

  it.skipIf(!HAS_ORIGIN)(
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
      const again = await uploadPhoto(init, still(2000, 1), { name: offer.name, filename: 'x.jpg' }).catch(
        (e: unknown) => e,
      )
      expect(again).toMatchObject({ name: 'PhotoGrantUsedError', message: expect.stringContaining('409') })
      // nor by starting it over, as a restarted lamp does: it learns of the photo published
      const url = await uploadWithGrant(init, still(2000, 1), { name: offer.name, filename: 'x.jpg' })
      expect(url).toBe(`${offer.origin}/resources/${offer.name}/versions/1/content`)
      expect(Buffer.from(await (await fetch(url)).arrayBuffer()).equals(still(2000))).toBe(true)
      const versions = await (await fetch(`${offer.origin}/resources/${offer.name}/versions`)).json()
      expect((versions as { versions: unknown[] }).versions).toHaveLength(1)
      expect((await fetch(`${offer.origin}/resources/grade3-math-07/versions`)).status).toBe(404)
    },
  )

  it.skipIf(!HAS_ORIGIN)(
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

  it.skipIf(!HAS_ORIGIN)('refuses a photo larger than its grant, with a clear ACK', async () => {
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

  it.skipIf(!HAS_ORIGIN)('reports a refused upload as a typed error', async () => {
    origin = await startOrigin()
    const err = await uploadPhoto({ origin: origin.url, token: 'wrong', retryDelays: [] }, Buffer.from('x'), {
      name: 'n',
      filename: 'n.jpg',
    }).catch((e: unknown) => e)
    expect(err).toMatchObject({ name: 'PhotoUploadError', code: 'ERR_PHOTO_UPLOAD' })
  })
})
