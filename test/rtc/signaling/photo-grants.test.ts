/**
 * The upload grants the signaling server hands out with `capture-photo`: one per control, the
 * same one on every retransmission, for a resource name teachers cannot steer into another's and
 * nobody can derive from the room and the control id.
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { UploadGrantIssuer, UploadGrantVerifier } from '../../../node/upload-grant.ts'
import { ControlRelay } from '../../../rtc/signaling/controls.ts'
import type { PhotoUploadOffer, ServerMessage } from '../../../rtc/signaling/messages.ts'
import { type Harness, spawn } from './harness.ts'

let h: Harness | undefined
afterEach(async () => {
  vi.useRealTimers()
  await h?.teardown()
  h = undefined
})

describe('photo upload grants', () => {
  it('sends one grant per capture-photo, the same on every retransmission and resend', () => {
    vi.useFakeTimers()
    const sent: Array<{ user: string; message: ServerMessage }> = []
    let made = 0
    const relay = new ControlRelay(
      {
        send: (user, message) => {
          sent.push({ user, message })
          return true
        },
        applied: () => {},
        photoUpload: (target, id) => ({
          origin: 'http://127.0.0.1:1',
          name: `homework-${target}-${id}`,
          grant: `grant-${++made}`,
          maxBytes: 10,
        }),
      },
      { retryMs: 100, maxAttempts: 5 },
    )
    relay.submit('t', 'lamp', 'c1', { kind: 'capture-photo' })
    vi.advanceTimersByTime(100 + 200)
    // the teacher repeating the control while the lamp is busy, and the lamp reconnecting
    relay.submit('t', 'lamp', 'c1', { kind: 'capture-photo' })
    relay.resend('lamp')
    const grants = sent
      .filter((s) => s.user === 'lamp' && s.message.type === 'control')
      .map((s) => (s.message as { upload?: PhotoUploadOffer }).upload?.grant)
    expect(grants).toEqual(['grant-1', 'grant-1', 'grant-1', 'grant-1'])
    relay.ack('lamp', { id: 'c1', ok: true, result: { url: 'u' } })
    // a repeat after the ACK gets the ACK again, and no new grant
    relay.submit('t', 'lamp', 'c1', { kind: 'capture-photo' })
    expect(made).toBe(1)
    // other controls carry none
    relay.submit('t', 'lamp', 'c2', { kind: 'mute', muted: true })
    expect(made).toBe(1)
    relay.close()
  })

  it('names each photo after its lamp and 128 random bits, never after room and control id', async () => {
    const issuer = new UploadGrantIssuer(await generateKeyPair('Ed25519'))
    const offers: PhotoUploadOffer[] = []
    const onControl = async (_command: unknown, _id: string, upload?: PhotoUploadOffer) => {
      if (upload !== undefined) offers.push(upload)
      return { ok: true }
    }
    h = await spawn({ origin: 'http://127.0.0.1:9', photoMaxBytes: 1234 }, undefined, issuer)
    const t1 = await h.join('t', 'teacher', { room: 'r1', kind: 'one-on-one' })
    await h.join('lamp', 'student', { room: 'r1', onControl })
    const t2 = await h.join('t', 'teacher', { room: 'r2', kind: 'one-on-one' })
    await h.join('lamp', 'student', { room: 'r2', onControl })
    // ids a teacher chooses, some shaped like resource names
    for (const id of ['c1', 'homework-other-000000000000', '..', 'a:b.c_d-e']) {
      expect((await t1.control('lamp', { kind: 'capture-photo' }, { id })).ok).toBe(true)
    }
    // the same control id in another room is another photo
    expect((await t2.control('lamp', { kind: 'capture-photo' }, { id: 'c1' })).ok).toBe(true)
    await h.teardown()
    h = undefined
    // Whoever knows a class's room and guesses its control ids (or a server restarted, and the
    // teacher's ids counting from 1 again) must not be able to name its photos: the same
    // control in the same room on another server is another name.
    h = await spawn({ origin: 'http://127.0.0.1:9', photoMaxBytes: 1234 }, undefined, issuer)
    const again = await h.join('t', 'teacher', { room: 'r1', kind: 'one-on-one' })
    await h.join('lamp', 'student', { room: 'r1', onControl })
    expect((await again.control('lamp', { kind: 'capture-photo' }, { id: 'c1' })).ok).toBe(true)
    expect(offers).toHaveLength(6)
    expect(new Set(offers.map((o) => o.name)).size).toBe(6)
    const verifier = new UploadGrantVerifier([issuer.id])
    for (const offer of offers) {
      expect(offer.name).toMatch(/^homework-lamp-[0-9a-f]{32}$/)
      expect(verifier.verify(offer.grant)).toMatchObject({ name: offer.name, type: 'image', max: 1234 })
    }
  })
})
