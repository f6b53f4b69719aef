/**
 * A device control whose lamp leaves the room before ACKing it (the lamp closed its connection,
 * its grace period ran out) is refused at once, by id: `control-ack {ok: false, error:
 * ERR_NOT_IN_ROOM}`, as a control sent to someone not in the room is. Before, the server went on
 * resending it to nobody until its retransmissions ran out (~31 s), and the teacher heard why only
 * when its own client's next resend was refused (1 to 16 s later); for a photo the lamp had said
 * it was taking, the client does not resend, and the teacher waited the full 15 minutes.
 */
import { describe, expect, it } from 'vitest'
import { type ControlResult, SignalingClient } from '../../../rtc/signaling/client.ts'
import type { DeviceCommand } from '../../../rtc/signaling/messages.ts'
import { type Harness, harnessPerTest } from './harness.ts'

const { spawn, closeAfter } = harnessPerTest()

/** Settles with `answer` or 'no answer' after `ms` (the teacher's client resends for ~3.1 s here). */
function within<T>(answer: Promise<T>, ms = 1_500): Promise<T | 'no answer'> {
  return Promise.race([answer, new Promise<'no answer'>((r) => setTimeout(() => r('no answer'), ms).unref())])
}

/**
 * The teacher's app with the client's default resends (1 s doubling), counting the `control`
 * messages it sends. Before, a control to a lamp that had left was refused only when the next of
 * these resends reached the server (1, 2, 4, 8 or 16 s later), and not at all while it waited for
 * a photo the lamp had said it was taking.
 */
async function teacher(h: Harness): Promise<{ t: SignalingClient; sent: () => number }> {
  const t = closeAfter(new SignalingClient({ url: h.wsUrl, token: h.token('t', 'teacher') }))
  await t.connect()
  let n = 0
  const send = t.send.bind(t)
  t.send = (msg) => {
    if (msg.type === 'control') n++
    return send(msg)
  }
  return { t, sent: () => n }
}

/** A lamp that takes a control and never finishes it (stuck, or uploading when its owner shuts it). */
const stuck = { onControl: () => new Promise<ControlResult>(() => {}) }

describe('a control whose lamp leaves', () => {
  it('is refused when the lamp closes its connection, and runs once it is back', async () => {
    // the server's own resends as in production: 1 s doubling, ~31 s in all
    const h = await spawn({ controlRetryMs: 1_000 })
    const { t, sent } = await teacher(h)
    const lamp = await h.join('lamp', 'student', stuck)
    const seen = lamp.next('control', { signal: AbortSignal.timeout(2_000) })
    const ack = t.control('lamp', { kind: 'screen', screen: 'whiteboard' }, { id: 'wb-1' })
    await seen
    lamp.close()
    // before: 'no answer', then the refusal of the teacher's resend a second after it sent
    expect(await within(ack, 800)).toEqual({ ok: false, error: 'ERR_NOT_IN_ROOM' })
    expect(sent()).toBe(1)
    expect(t.state!.participants.lamp).toBeUndefined()
    // not remembered: the same id runs on the lamp once it is back
    const runs: DeviceCommand[] = []
    await h.join('lamp', 'student', {
      onControl: async (command) => {
        runs.push(command)
        return { ok: true }
      },
    })
    expect(await within(t.control('lamp', { kind: 'screen', screen: 'whiteboard' }, { id: 'wb-1' }))).toEqual(
      {
        ok: true,
      },
    )
    expect(runs).toEqual([{ kind: 'screen', screen: 'whiteboard' }])
  })

  it('is refused when the lamp taking a photo leaves, not after the 15 minutes a photo may take', async () => {
    const h = await spawn()
    const t = await h.join('t', 'teacher')
    const lamp = await h.join('lamp', 'student', stuck)
    const ack = t.control('lamp', { kind: 'capture-photo' }, { id: 'photo-1' })
    // the server resent it and the lamp said it is still at it: both ends now wait for the upload
    await t.next('control-progress', { signal: AbortSignal.timeout(2_000) })
    lamp.close()
    // before: 'no answer' for CONTROL_RUNNING_TIMEOUT_MS (15 min)
    expect(await within(ack)).toEqual({ ok: false, error: 'ERR_NOT_IN_ROOM' })
  })

  it('is refused when the grace period of a lamp that dropped runs out', async () => {
    const h = await spawn({ controlRetryMs: 1_000, graceMs: 300 })
    const { t, sent } = await teacher(h)
    const lamp = closeAfter(
      new SignalingClient({ url: h.wsUrl, token: h.token('lamp', 'student'), reconnect: false }),
    )
    await lamp.connect()
    await t.waitFor((st) => st.participants.lamp !== undefined, { signal: AbortSignal.timeout(2_000) })
    lamp.drop()
    // sent while the lamp may still come back: kept and resent, until it is gone for good
    const ack = t.control('lamp', { kind: 'camera', camera: 'desk' }, { id: 'cam-1' })
    // before: refused only in answer to the teacher's resend, a second after it sent
    expect(await within(ack, 900)).toEqual({ ok: false, error: 'ERR_NOT_IN_ROOM' })
    expect(sent()).toBe(1)
    expect(t.state!.participants.lamp).toBeUndefined()
  })
})
