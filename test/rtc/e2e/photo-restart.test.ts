/**
 * Homework photos across a lamp restart: a lamp that dies while running `capture-photo` gets the
 * control again, with the same upload grant, when it comes back (a fresh login). Whether it died
 * mid-upload or after the upload but before its ACK, the teacher must end up with a photo URL,
 * serving one whole photo: never an error, never two photos spliced together, never two versions.
 */
import * as tus from 'tus-js-client'
import { afterEach, describe, expect, it } from 'vitest'
import { lampControls } from '../../../rtc/photo/upload.ts'
import type { ControlHandler, ControlResult, SignalingClient } from '../../../rtc/signaling/client.ts'
import type { PhotoUploadOffer } from '../../../rtc/signaling/messages.ts'
import type { Harness } from '../signaling/harness.ts'
import { classroom, HAS_ORIGIN, still, type TestOrigin } from './classroom.ts'

let h: Harness | undefined
let origin: TestOrigin | undefined
afterEach(async () => {
  await h?.teardown()
  await origin?.close()
  h = undefined
  origin = undefined
})

/** A promise and its resolvers. */
function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (err: Error) => void } {
  let resolve!: (v: T) => void
  let reject!: (err: Error) => void
  const promise = new Promise<T>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}

/**
 * A lamp whose process dies while running the control: `work` runs, then the lamp is gone
 * without an ACK, as after a power cut: its connection ends without a goodbye (a lamp that
 * says goodbye, close 1000, has left the room, and its pending controls are refused), it
 * never reconnects, and its handler never returns.
 */
async function dyingLamp(
  h: Harness,
  work: (upload: PhotoUploadOffer) => Promise<void>,
): Promise<{ died: Promise<PhotoUploadOffer> }> {
  const died = deferred<PhotoUploadOffer>()
  let lamp: SignalingClient | undefined
  const onControl: ControlHandler = async (command, _id, upload) => {
    if (command.kind !== 'capture-photo' || upload === undefined) return { ok: false, error: 'unexpected' }
    await work(upload)
    lamp?.drop()
    died.resolve(upload)
    return await new Promise<ControlResult>(() => {})
  }
  lamp = await h.join('lamp', 'student', { room: 'r', onControl, reconnect: false })
  return { died: died.promise }
}

/** The versions the origin holds of the resource a photo URL names. */
async function versionsOf(url: string): Promise<unknown[]> {
  const u = new URL(url)
  const name = u.pathname.split('/')[2]
  const res = await fetch(`${u.origin}/resources/${name}/versions`)
  return ((await res.json()) as { versions: unknown[] }).versions
}

describe('homework photo across a lamp restart', () => {
  it.skipIf(!HAS_ORIGIN)(
    'reaches the teacher whole when the lamp restarted mid-upload and took a new photo',
    async () => {
      ;({ h, origin } = await classroom())
      const t = await h.join('t', 'teacher', { room: 'r', kind: 'one-on-one' })
      // the first photo gets 2 of its 5 parts to the origin, then the lamp loses power
      const before = still(10_000, 1)
      const { died } = await dyingLamp(h, async (offer) => {
        const parts = deferred<void>()
        const upload: tus.Upload = new tus.Upload(before, {
          endpoint: `${offer.origin}/uploads`,
          headers: { authorization: `Bearer ${offer.grant}` },
          metadata: { filename: `${offer.name}.jpg`, name: offer.name, type: 'image' },
          uploadSize: before.length,
          chunkSize: 2000,
          retryDelays: [],
          onChunkComplete: (_size, accepted) => {
            if (accepted < 4000) return
            upload.abort(false).then(() => parts.resolve())
          },
          onError: (err) => parts.reject(err),
        })
        upload.start()
        await parts.promise
      })
      const asked = t.control('lamp', { kind: 'capture-photo' })
      const offer = await died
      // back up, it takes a new photo: another size, other bytes
      const after = still(7000, 2)
      let shots = 0
      await h.join('lamp', 'student', {
        room: 'r',
        onControl: lampControls({
          camera: async () => {
            shots++
            return after
          },
        }),
      })
      const ack = await asked
      expect(ack.error).toBeUndefined()
      expect(ack.ok).toBe(true)
      expect(shots).toBe(1)
      const url = ack.result?.url ?? ''
      expect(url.startsWith(`${offer.origin}/resources/${offer.name}/versions/`)).toBe(true)
      const served = Buffer.from(await (await fetch(url)).arrayBuffer())
      // the new photo, not the old one's first 4000 bytes followed by the new one's rest
      expect(served.length).toBe(after.length)
      expect(served.equals(after)).toBe(true)
      expect(await versionsOf(url)).toHaveLength(1)
    },
  )

  it.skipIf(!HAS_ORIGIN)(
    'gives the teacher the photo a lamp uploaded before it died without ACKing',
    async () => {
      ;({ h, origin } = await classroom())
      const t = await h.join('t', 'teacher', { room: 'r', kind: 'one-on-one' })
      const first = still(3000, 3)
      const upload = lampControls({ camera: async () => first })
      let uploaded: string | undefined
      const { died } = await dyingLamp(h, async (offer) => {
        const done = await upload({ kind: 'capture-photo' }, 'x', offer)
        uploaded = done.result?.url
      })
      const asked = t.control('lamp', { kind: 'capture-photo' })
      await died
      expect(uploaded).toBeDefined()
      // back up, it takes a new photo; the one published with its grant is the one to report
      await h.join('lamp', 'student', {
        room: 'r',
        onControl: lampControls({ camera: async () => still(4000, 4) }),
      })
      const ack = await asked
      expect(ack.error).toBeUndefined()
      expect(ack).toMatchObject({ ok: true, result: { url: uploaded } })
      const served = Buffer.from(await (await fetch(uploaded ?? '')).arrayBuffer())
      expect(served.equals(first)).toBe(true)
      expect(await versionsOf(uploaded ?? '')).toHaveLength(1)
    },
  )
})
