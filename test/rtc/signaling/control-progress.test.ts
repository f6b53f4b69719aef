/**
 * A control the lamp takes a while to run (a homework photo uploading over a slow classroom
 * link) is not reported as failed when its resends run out: the lamp answers a resend with
 * `control-progress`, and the server and the teacher's client wait for its ACK instead.
 */
import { afterEach, describe, expect, it } from 'vitest'
import type { ControlResult } from '../../../rtc/signaling/client.ts'
import { type Harness, spawn } from './harness.ts'

let h: Harness | undefined
afterEach(async () => {
  await h?.teardown()
  h = undefined
})

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe('device controls that take long', () => {
  it('are waited for past the resend schedule on both hops, and run once', async () => {
    // resends every 100, 200, 400, 800, 1600 ms: both hops give up after ~3.1 s without progress
    h = await spawn({ controlRetryMs: 100 })
    let runs = 0
    const t = await h.join('t', 'teacher', { room: 'r', kind: 'one-on-one' })
    await h.join('lamp', 'student', {
      room: 'r',
      onControl: async (): Promise<ControlResult> => {
        runs++
        await sleep(4000)
        return { ok: true, result: { url: 'http://origin/resources/photo/versions/1/content' } }
      },
    })
    const ack = await t.control('lamp', { kind: 'capture-photo' })
    expect(ack).toEqual({ ok: true, result: { url: 'http://origin/resources/photo/versions/1/content' } })
    expect(runs).toBe(1)
  })

  it('fail once the running deadline passes', async () => {
    h = await spawn({ controlRetryMs: 100, controlRunningMs: 300 })
    const t = await h.join('t', 'teacher', { room: 'r', kind: 'one-on-one' })
    await h.join('lamp', 'student', {
      room: 'r',
      onControl: () => new Promise<ControlResult>(() => {}),
    })
    const ack = await t.control('lamp', { kind: 'capture-photo' })
    expect(ack).toMatchObject({ ok: false, error: 'ERR_CONTROL_TIMEOUT' })
  })
})
