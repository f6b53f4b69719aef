/**
 * A room's control relay holds 1024 un-ACKed controls. One more is refused whole with a busy
 * ACK the teacher can act on; nothing already in flight is evicted or lost.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import { CONTROL_DEDUP_SIZE } from '../../../rtc/constants.ts'
import { CapacityError } from '../../../rtc/errors.ts'
import type { ControlResult } from '../../../rtc/signaling/client.ts'
import { Retransmitter } from '../../../rtc/signaling/retransmit.ts'
import { type Harness, spawn } from './harness.ts'

let h: Harness | undefined
afterEach(async () => {
  vi.useRealTimers()
  await h?.teardown()
  h = undefined
})

describe('retransmitter capacity', () => {
  it('throws a CapacityError when full and keeps what it holds', () => {
    vi.useFakeTimers()
    const sent: string[] = []
    const r = new Retransmitter<string>({ maxPending: 2, retryMs: 1000 })
    r.start(
      'a',
      () => sent.push('a'),
      () => {},
    )
    r.start(
      'b',
      () => sent.push('b'),
      () => {},
    )
    expect(r.full).toBe(true)
    const err = (() => {
      try {
        r.start(
          'c',
          () => sent.push('c'),
          () => {},
        )
      } catch (e) {
        return e
      }
    })()
    expect(err).toBeInstanceOf(CapacityError)
    expect((err as CapacityError).code).toBe('ERR_CAPACITY')
    expect(sent).toEqual(['a', 'b'])
    expect(r.has('a') && r.has('b') && !r.has('c')).toBe(true)
    vi.advanceTimersByTime(1000)
    expect(sent).toEqual(['a', 'b', 'a', 'b'])
    r.clear()
  })
})

describe('control relay capacity', () => {
  it('refuses the control beyond 1024 pending with ERR_CAPACITY, loses no ACK, and runs it when resent', async () => {
    // Date only: the server's message rate limit reads it, and moving it on refills the bucket
    // between batches instead of waiting 18 s; timers and sockets stay real
    vi.useFakeTimers({ toFake: ['Date'] })
    // a retry delay longer than the test: no control times out while the relay fills up
    h = await spawn({ controlRetryMs: 600_000 })
    const t = await h.join('t', 'teacher')
    const held = new Map<string, (r: ControlResult) => void>()
    const ran: string[] = []
    await h.join('lamp', 'student', {
      onControl: (_command, id) => {
        ran.push(id)
        // the lamp holds every control until the test lets it finish
        return new Promise((resolve) => held.set(id, resolve))
      },
    })
    const mute = { kind: 'mute', muted: true } as const
    for (let i = 0; i < CONTROL_DEDUP_SIZE; i += 100) {
      vi.setSystemTime(Date.now() + 10_000)
      for (let j = i; j < Math.min(i + 100, CONTROL_DEDUP_SIZE); j++)
        t.send({ type: 'control', id: `c${j}`, target: 'lamp', command: mute })
      t.send({ type: 'ping' })
      await t.next('pong')
    }
    vi.setSystemTime(Date.now() + 10_000)
    const errors: string[] = []
    t.on('error', (e) => errors.push(e.code))
    // before: ERR_INTERNAL (no id, so the teacher's control() kept retransmitting into the void)
    const busy = await t.control('lamp', mute, { id: 'over' })
    expect(busy).toEqual({ ok: false, error: 'ERR_CAPACITY' })
    expect(errors).toEqual([])
    // the oldest control was not evicted: its ACK still reaches the teacher
    const ack = t.next('control-ack')
    await vi.waitUntil(() => held.has('c0'))
    held.get('c0')!({ ok: true })
    expect(await ack).toMatchObject({ id: 'c0', ok: true })
    // room again: the refused id was not remembered, so sending it again runs it
    // (before: a silent no-op, the half-inserted id never reached the lamp)
    const again = t.control('lamp', mute, { id: 'over' })
    await vi.waitUntil(() => held.has('over'))
    held.get('over')!({ ok: true })
    expect(await again).toEqual({ ok: true })
    expect(ran.filter((id) => id === 'over')).toEqual(['over'])
  }, 30_000)
})
