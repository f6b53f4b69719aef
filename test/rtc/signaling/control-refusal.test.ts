/**
 * A device control the server refuses (sent by a student, aimed at someone not in the room or at
 * a parent) is answered by its id: the sender's client stops resending it and hears why at once.
 * Before, only an `error` without the id came back; `control()` kept resending the refused control
 * and, after its last attempt (~31 s with the defaults), reported ERR_CONTROL_TIMEOUT, as if a lamp
 * had not answered.
 */
import { afterEach, describe, expect, it } from 'vitest'
import type { ControlResult, SignalingClient } from '../../../rtc/signaling/client.ts'
import type { ClientMessage, DeviceCommand } from '../../../rtc/signaling/messages.ts'
import { type Harness, spawn } from './harness.ts'

let h: Harness | undefined
afterEach(async () => {
  await h?.teardown()
  h = undefined
})

/** `c.control(...)`, or 'no answer' if neither an ACK nor a rejection came within `ms`. */
function controlWithin(
  c: SignalingClient,
  target: string,
  command: DeviceCommand,
  options: { id?: string } = {},
  ms = 1_500,
): Promise<ControlResult | 'no answer'> {
  return Promise.race([
    c.control(target, command, options),
    new Promise<'no answer'>((r) => setTimeout(() => r('no answer'), ms).unref()),
  ])
}

/** Counts the `control` messages `c` sends (first sends and retransmissions). */
function countControls(c: SignalingClient): () => number {
  let n = 0
  const send = c.send.bind(c)
  c.send = (msg: ClientMessage) => {
    if (msg.type === 'control') n++
    return send(msg)
  }
  return () => n
}

describe('refused device controls', () => {
  it('answers a photo request for someone not in the room by id, and runs it once they join', async () => {
    // the client's resends end after ~3.1 s here (100 ms doubling, 5 attempts)
    h = await spawn()
    const t = await h.join('t', 'teacher')
    const sent = countControls(t)
    const refused = await controlWithin(t, 'amy', { kind: 'capture-photo' }, { id: 'photo-1' })
    expect(refused).toEqual({ ok: false, error: 'ERR_NOT_IN_ROOM' })
    // no more resends once refused (one may have left before the refusal came back: the
    // client resends every 100 ms here, and a busy machine answers slower than that)
    const atRefusal = sent()
    await new Promise((r) => setTimeout(r, 500))
    expect(sent()).toBe(atRefusal)
    // the refusal is not remembered: the same id goes through once the lamp is there
    const runs: string[] = []
    await h.join('amy', 'student', {
      onControl: async (_c, id) => {
        runs.push(id)
        return { ok: true, result: { url: 'http://origin/p' } }
      },
    })
    expect(await controlWithin(t, 'amy', { kind: 'capture-photo' }, { id: 'photo-1' })).toMatchObject({
      ok: true,
    })
    expect(runs).toEqual(['photo-1'])
  })

  it("tells a student's app at once that only the teacher switches lamps", async () => {
    h = await spawn()
    await h.join('t', 'teacher')
    const runs: DeviceCommand[] = []
    await h.join('ben', 'student', {
      onControl: async (c) => {
        runs.push(c)
        return { ok: true }
      },
    })
    const s = await h.join('sam', 'student')
    const sent = countControls(s)
    expect(await controlWithin(s, 'ben', { kind: 'screen', screen: 'whiteboard' })).toEqual({
      ok: false,
      error: 'ERR_FORBIDDEN',
    })
    expect(await controlWithin(s, 'ben', { kind: 'camera', camera: 'desk' })).toEqual({
      ok: false,
      error: 'ERR_FORBIDDEN',
    })
    // neither is sent again once refused (a resend may have left before its refusal came back)
    const atRefusals = sent()
    await new Promise((r) => setTimeout(r, 500))
    expect(sent()).toBe(atRefusals)
    expect(runs).toEqual([])
  })

  it("refuses a control aimed at a parent's app by id, and still sends the error", async () => {
    h = await spawn()
    const t = await h.join('t', 'teacher', { room: 'c', kind: 'class' })
    await h.join('mum', 'parent', { room: 'c', onControl: async () => ({ ok: true }) })
    await t.waitFor((st) => st.participants.mum !== undefined)
    const error = new Promise<string>((r) => t.once('error', (e) => r(e.code)))
    expect(await controlWithin(t, 'mum', { kind: 'mute', muted: true })).toEqual({
      ok: false,
      error: 'ERR_FORBIDDEN',
    })
    expect(await error).toBe('ERR_FORBIDDEN')
  })
})
