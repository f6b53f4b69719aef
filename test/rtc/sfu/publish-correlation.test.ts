/**
 * publish() took any `error` that arrived while its offer was out as the SFU's refusal of it:
 * server errors named no request. A lamp answering a call that had just timed out (its late
 * `call.accept` refused) or raising a hand beyond its allowance as it published lost its publish
 * (rejected, and a refusal is not tried again). Now publish() reacts only to the error that
 * carries its own request id (its own refusal still rejects at once: `sfu.test.ts`, stage-only
 * publishing in a class).
 */
import { afterEach, describe, expect, it } from 'vitest'
import { publish } from '../../../rtc/client/media.ts'
import type { ClientMessage } from '../../../rtc/signaling/messages.ts'
import { type MediaHarness, spawnMedia } from './media-harness.ts'

let h: MediaHarness | undefined
afterEach(async () => {
  await h?.teardown()
  h = undefined
})

/** Rejects after `ms` (a bound on a wait, not a speed target). */
function hangs(ms: number, what: string): Promise<never> {
  return new Promise((_, reject) => setTimeout(() => reject(new Error(`${what} never settled`)), ms).unref())
}

describe('publish among other refusals', () => {
  it('is not sunk by the refusal of a late call accept sent while it was under way', async () => {
    h = await spawnMedia()
    await h.join('t', 'teacher', { room: 'r', kind: 'group' })
    const lamp = await h.join('lamp', 'student', { room: 'r' })
    const refusals: string[] = []
    lamp.on('error', (e) => refusals.push(e.code))
    const send = lamp.send.bind(lamp)
    lamp.send = (msg: ClientMessage): boolean => {
      const sent = send(msg)
      // the lamp answers a call that is over as its publish goes out
      if (msg.type === 'publish') send({ type: 'action', action: 'call.accept', callId: 'gone' })
      return sent
    }
    const pub = await Promise.race([
      publish(lamp, { loopback: true }, { attempts: 1 }),
      hangs(30_000, 'publish'),
    ])
    try {
      expect(refusals).toEqual(['ERR_INVALID_TRANSITION'])
      expect(pub.pc.connectionState).toBe('connected')
      expect((await h.sfu.stats()).publishers).toBe(1)
    } finally {
      await pub.close()
    }
  })
})
