/**
 * The stage is how a class (up to 200 students) decides who publishes; its limit (`MAX_STAGE`, 4)
 * is about that. In a group (up to 6) every student publishes anyway, yet the limit applied: the
 * teacher accepting a fifth raised hand was refused with ERR_STAGE_FULL and that hand stayed up.
 * The limit now holds in classes only.
 */
import { describe, expect, it } from 'vitest'
import type { SignalingClient } from '../../../rtc/signaling/client.ts'
import { harnessPerTest, outcome } from './harness.ts'

const { spawn } = harnessPerTest()

describe('the stage limit', () => {
  it('does not keep a group teacher from taking every raised hand, and still holds in a class', async () => {
    const h = await spawn()
    const t = await h.join('t', 'teacher', { room: 'g', kind: 'group' })
    t.on('error', () => {})
    const students: SignalingClient[] = []
    for (let i = 1; i <= 6; i++) students.push(await h.join(`s${i}`, 'student', { room: 'g' }))
    for (const s of students) s.action('hand.raise')
    await t.waitFor((st) => st.hands.length === 6, { signal: AbortSignal.timeout(2_000) })
    const outcomes: string[] = []
    for (let i = 1; i <= 6; i++)
      outcomes.push(await outcome(t, () => t.action('hand.accept', { user: `s${i}` })))
    expect(outcomes).toEqual(Array(6).fill('hand.accept'))
    expect(t.state!.hands).toEqual([])
    expect(t.state!.stage).toHaveLength(6)

    const ct = await h.join('ct', 'teacher', { room: 'c', kind: 'class' })
    ct.on('error', () => {})
    for (let i = 1; i <= 5; i++) await h.join(`c${i}`, 'student', { room: 'c' })
    const invited: string[] = []
    for (let i = 1; i <= 5; i++)
      invited.push(await outcome(ct, () => ct.action('stage.invite', { user: `c${i}` })))
    expect(invited).toEqual([...Array(4).fill('stage.invite'), 'ERR_STAGE_FULL'])
  })
})
