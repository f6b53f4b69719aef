import { describe, expect, it } from 'vitest'
import { RING_TIMEOUT_MS } from '../../../rtc/constants.ts'
import { inCall } from '../../../rtc/room/call.ts'
import { canPublish, createRoomState, DEFAULT_LIMITS, reduce, viewFor } from '../../../rtc/room/reducer.ts'
import type { RoomEvent, RoomKind, RoomState } from '../../../rtc/room/types.ts'

const at = 1_000_000

function room(kind: RoomKind, students = 1, parents = 0): RoomState {
  let s = createRoomState('r1', kind)
  s = reduce(s, { type: 'join', at, user: 't', role: 'teacher' })
  for (let i = 0; i < students; i++) s = reduce(s, { type: 'join', at, user: `s${i}`, role: 'student' })
  for (let i = 0; i < parents; i++) s = reduce(s, { type: 'join', at, user: `p${i}`, role: 'parent' })
  return s
}

function run(s: RoomState, ...events: RoomEvent[]): RoomState {
  return events.reduce((acc, e) => reduce(acc, e), s)
}

describe('call state machine', () => {
  const init: RoomEvent = { type: 'call.initiate', at, by: 't', callId: 'c1', callee: 's0' }

  it('goes initiating → ringing → accepted → in-call → ended', () => {
    let s = run(room('one-on-one'), init)
    expect(s.call?.status).toBe('initiating')
    s = run(s, { type: 'call.ringing', at, by: 's0', callId: 'c1' })
    expect(s.call?.status).toBe('ringing')
    s = run(s, { type: 'call.accept', at, by: 's0', callId: 'c1' })
    expect(s.call?.status).toBe('accepted')
    s = run(s, { type: 'call.connected', at, by: 's0', callId: 'c1' })
    expect(s.call?.status).toBe('in-call')
    s = run(s, { type: 'call.end', at, by: 't', callId: 'c1' })
    expect(s.call?.status).toBe('ended')
  })

  it('rejects, cancels and times out', () => {
    const ringing = run(room('one-on-one'), init, { type: 'call.ringing', at, by: 's0', callId: 'c1' })
    expect(run(ringing, { type: 'call.reject', at, by: 's0', callId: 'c1' }).call?.status).toBe('rejected')
    expect(run(ringing, { type: 'call.cancel', at, by: 't', callId: 'c1' }).call?.status).toBe('cancelled')
    expect(run(ringing, { type: 'tick', at: at + RING_TIMEOUT_MS - 1 }).call?.status).toBe('ringing')
    expect(run(ringing, { type: 'tick', at: at + RING_TIMEOUT_MS }).call?.status).toBe('timeout')
  })

  it('refuses transitions from the wrong state or the wrong party', () => {
    const s = run(room('one-on-one'), init)
    expect(() => run(s, { type: 'call.accept', at, by: 't', callId: 'c1' })).toThrow(
      expect.objectContaining({ name: 'ForbiddenError' }),
    )
    expect(() => run(s, { type: 'call.cancel', at, by: 's0', callId: 'c1' })).toThrow(
      expect.objectContaining({ code: 'ERR_FORBIDDEN' }),
    )
    expect(() => run(s, { type: 'call.end', at, by: 't', callId: 'c1' })).toThrow(
      expect.objectContaining({ name: 'InvalidTransitionError' }),
    )
    expect(() => run(s, init)).toThrow(expect.objectContaining({ name: 'InvalidTransitionError' }))
    const rejected = run(s, { type: 'call.reject', at, by: 's0', callId: 'c1' })
    expect(() => run(rejected, { type: 'call.accept', at, by: 's0', callId: 'c1' })).toThrow(
      expect.objectContaining({ name: 'InvalidTransitionError' }),
    )
    // a finished call makes room for a new one
    expect(run(rejected, { ...init, callId: 'c2' }).call?.id).toBe('c2')
    expect(() => run(room('one-on-one'), { ...init, by: 's0', callee: 't' })).toThrow(
      expect.objectContaining({ name: 'ForbiddenError' }),
    )
  })

  it('only lets the two ends of a call report it connected', () => {
    const accepted = run(room('group', 2, 1), init, { type: 'call.accept', at, by: 's0', callId: 'c1' })
    for (const by of ['s1', 'p0', 'nobody']) {
      expect(() => run(accepted, { type: 'call.connected', at, by, callId: 'c1' })).toThrow(
        expect.objectContaining({ name: 'ForbiddenError' }),
      )
    }
    expect(run(accepted, { type: 'call.connected', at, by: 't', callId: 'c1' }).call?.status).toBe('in-call')
    expect(run(accepted, { type: 'call.connected', at, by: 's0', callId: 'c1' }).call?.status).toBe('in-call')
  })

  it('ends or cancels the call when a party leaves', () => {
    const ringing = run(room('one-on-one'), init)
    expect(run(ringing, { type: 'leave', at, user: 't' }).call?.status).toBe('cancelled')
    expect(run(ringing, { type: 'leave', at, user: 's0' }).call?.status).toBe('rejected')
    const inCall = run(ringing, { type: 'call.accept', at, by: 's0', callId: 'c1' })
    expect(run(inCall, { type: 'leave', at, user: 's0' }).call?.status).toBe('ended')
  })
})

describe('hands and stage', () => {
  it('queues hands in arrival order, ignores duplicates and times them out', () => {
    const s = run(
      room('class', 3),
      { type: 'hand.raise', at: at + 2, by: 's2' },
      { type: 'hand.raise', at: at + 1, by: 's0' },
      { type: 'hand.raise', at: at + 3, by: 's2' },
      { type: 'hand.raise', at: at + 4, by: 's1' },
    )
    expect(s.hands.map((h) => h.user)).toEqual(['s2', 's0', 's1'])
    const later = run(s, { type: 'tick', at: at + 2 + DEFAULT_LIMITS.handTimeoutMs })
    expect(later.hands.map((h) => h.user)).toEqual(['s1'])
    expect(run(s, { type: 'hand.lower', at, by: 's0' }).hands.map((h) => h.user)).toEqual(['s2', 's1'])
  })

  it('teacher accepts a hand onto the stage or dismisses it', () => {
    let s = run(room('class', 2), { type: 'hand.raise', at, by: 's0' }, { type: 'hand.raise', at, by: 's1' })
    expect(canPublish(s, 's0')).toBe(false)
    s = run(s, { type: 'hand.accept', at, by: 't', user: 's0' })
    expect(s.stage).toEqual(['s0'])
    expect(s.hands.map((h) => h.user)).toEqual(['s1'])
    expect(canPublish(s, 's0')).toBe(true)
    s = run(s, { type: 'hand.dismiss', at, by: 't', user: 's1' })
    expect(s.hands).toEqual([])
    expect(() => run(s, { type: 'hand.accept', at, by: 't', user: 's1' })).toThrow(
      expect.objectContaining({ name: 'InvalidTransitionError' }),
    )
    expect(() => run(s, { type: 'hand.dismiss', at, by: 's0', user: 's1' })).toThrow(
      expect.objectContaining({ name: 'ForbiddenError' }),
    )
    // a student may step down; the teacher may remove anyone
    expect(run(s, { type: 'stage.remove', at, by: 's0', user: 's0' }).stage).toEqual([])
    expect(() => run(s, { type: 'stage.remove', at, by: 's1', user: 's0' })).toThrow(
      expect.objectContaining({ name: 'ForbiddenError' }),
    )
  })

  it('enforces the stage limit', () => {
    let s = room('class', DEFAULT_LIMITS.maxStage + 1)
    for (let i = 0; i < DEFAULT_LIMITS.maxStage; i++)
      s = run(s, { type: 'stage.invite', at, by: 't', user: `s${i}` })
    expect(s.stage).toHaveLength(DEFAULT_LIMITS.maxStage)
    expect(() => run(s, { type: 'stage.invite', at, by: 't', user: `s${DEFAULT_LIMITS.maxStage}` })).toThrow(
      expect.objectContaining({ name: 'StageFullError', code: 'ERR_STAGE_FULL' }),
    )
  })

  it('has no hands in one-on-one rooms and only students raise them', () => {
    expect(() => run(room('one-on-one'), { type: 'hand.raise', at, by: 's0' })).toThrow(
      expect.objectContaining({ name: 'InvalidTransitionError' }),
    )
    expect(() => run(room('group'), { type: 'hand.raise', at, by: 't' })).toThrow(
      expect.objectContaining({ name: 'ForbiddenError' }),
    )
  })
})

describe('membership and capacity', () => {
  it('enforces room capacity per kind', () => {
    expect(() => room('one-on-one', 2)).toThrow(expect.objectContaining({ name: 'RoomFullError' }))
    expect(() => room('group', 7)).toThrow(expect.objectContaining({ code: 'ERR_ROOM_FULL' }))
    expect(Object.keys(room('group', 6).participants)).toHaveLength(7)
    expect(Object.keys(room('class', 200).participants)).toHaveLength(201)
    expect(() => room('class', 201)).toThrow(expect.objectContaining({ name: 'RoomFullError' }))
    expect(() => reduce(room('group'), { type: 'join', at, user: 't2', role: 'teacher' })).toThrow(
      expect.objectContaining({ name: 'RoomFullError' }),
    )
  })

  it('lets only a teacher name the kind of a room students opened', () => {
    let s = createRoomState('r1', 'pending')
    // a student's kind claim never reaches the reducer; while pending the largest limit applies
    for (let i = 0; i < 8; i++) s = reduce(s, { type: 'join', at, user: `s${i}`, role: 'student' })
    s = reduce(s, { type: 'join', at, user: 'p0', role: 'parent' })
    expect(s.kind).toBe('pending')
    expect(canPublish(s, 's0')).toBe(false)
    expect(() => reduce(s, { type: 'hand.raise', at, by: 's0' })).toThrow(
      expect.objectContaining({ name: 'InvalidTransitionError' }),
    )
    const cls = reduce(s, { type: 'join', at, user: 't', role: 'teacher', kind: 'class' })
    expect(cls.kind).toBe('class')
    expect(canPublish(cls, 's0')).toBe(false)
    expect(reduce(cls, { type: 'hand.raise', at, by: 's0' }).hands).toHaveLength(1)
    const group = reduce(s, { type: 'join', at, user: 't', role: 'teacher' })
    expect(group.kind).toBe('group')
    expect(canPublish(group, 's0')).toBe(true)
    // a room whose kind is known keeps it
    expect(reduce(room('one-on-one', 0), { type: 'join', at, user: 's0', role: 'student' }).kind).toBe(
      'one-on-one',
    )
  })

  it('keeps parents hidden and receive-only', () => {
    const s = room('group', 2, 1)
    expect(canPublish(s, 'p0')).toBe(false)
    expect(canPublish(s, 's1')).toBe(true)
    expect(Object.keys(viewFor(s, 'student').participants)).not.toContain('p0')
    expect(Object.keys(viewFor(s, 'teacher').participants)).toContain('p0')
  })

  it('leaving clears hands, stage and speaker; presence keeps state', () => {
    let s = run(
      room('class', 2),
      { type: 'stage.invite', at, by: 't', user: 's0' },
      { type: 'hand.raise', at, by: 's1' },
    )
    s = run(s, { type: 'speaker', at, user: 's0' }, { type: 'presence', at, user: 's0', connected: false })
    expect(s.participants.s0.connected).toBe(false)
    expect(s.stage).toEqual(['s0'])
    s = run(s, { type: 'leave', at, user: 's0' }, { type: 'leave', at, user: 's1' })
    expect(s.stage).toEqual([])
    expect(s.hands).toEqual([])
    expect(s.speaker).toBeNull()
  })

  it('applies acknowledged device settings', () => {
    let s = room('one-on-one')
    s = run(
      s,
      { type: 'device.applied', at, by: 's0', setting: { kind: 'screen', screen: 'whiteboard' } },
      { type: 'device.applied', at, by: 's0', setting: { kind: 'camera', camera: 'desk' } },
      { type: 'device.applied', at, by: 's0', setting: { kind: 'mute', muted: true } },
    )
    expect(s.participants.s0).toMatchObject({ screen: 'whiteboard', camera: 'desk', muted: true })
  })

  it('never mutates the previous state', () => {
    const s = room('class', 1)
    const frozen = JSON.stringify(s)
    run(s, { type: 'stage.invite', at, by: 't', user: 's0' }, { type: 'leave', at, user: 's0' })
    expect(JSON.stringify(s)).toBe(frozen)
  })
})

describe('a class student called on', () => {
  const call: RoomEvent = { type: 'call.initiate', at, by: 't', callId: 'k1', callee: 's0' }

  it('publishes from the answer until the call is over', () => {
    const ringing = run(room('class', 2), call, { type: 'call.ringing', at, by: 's0', callId: 'k1' })
    expect(canPublish(ringing, 's0')).toBe(false)
    const accepted = run(ringing, { type: 'call.accept', at, by: 's0', callId: 'k1' })
    expect(canPublish(accepted, 's0')).toBe(true)
    expect(canPublish(accepted, 's1')).toBe(false)
    const inCallState = run(accepted, { type: 'call.connected', at, by: 't', callId: 'k1' })
    expect(canPublish(inCallState, 's0')).toBe(true)
    expect(canPublish(run(inCallState, { type: 'call.end', at, by: 't', callId: 'k1' }), 's0')).toBe(false)
    // taken off a stage it never was on, it still speaks for the call
    expect(canPublish(run(inCallState, { type: 'stage.remove', at, by: 't', user: 's0' }), 's0')).toBe(true)
  })

  it('holds a stage place from the ring, not past the ring deadline', () => {
    const max = DEFAULT_LIMITS.maxStage
    let s = room('class', max + 1)
    for (let i = 1; i < max; i++) s = run(s, { type: 'stage.invite', at, by: 't', user: `s${i}` })
    s = run(s, call)
    const invite = (when: number): RoomEvent => ({ type: 'stage.invite', at: when, by: 't', user: `s${max}` })
    expect(() => run(s, invite(at))).toThrow(expect.objectContaining({ name: 'StageFullError' }))
    // unanswered by its deadline, the call holds nothing, even before the tick says it timed out
    expect(run(s, invite(at + DEFAULT_LIMITS.ringTimeoutMs)).stage).toHaveLength(max)
    expect(inCall(s, 's0', at)).toBe(true)
    expect(inCall(s, 't', at)).toBe(true)
    expect(inCall(s, 's1', at)).toBe(false)
    expect(inCall(s, 's0', at + DEFAULT_LIMITS.ringTimeoutMs)).toBe(false)
  })

  it('cannot be called on when the stage is full, unless on it', () => {
    const max = DEFAULT_LIMITS.maxStage
    let s = room('class', max + 1)
    for (let i = 0; i < max; i++) s = run(s, { type: 'stage.invite', at, by: 't', user: `s${i}` })
    expect(() => run(s, { type: 'call.initiate', at, by: 't', callId: 'k2', callee: `s${max}` })).toThrow(
      expect.objectContaining({ name: 'StageFullError', code: 'ERR_STAGE_FULL' }),
    )
    expect(run(s, call).call?.status).toBe('initiating')
    // a group has no stage limit to hold
    expect(run(room('group', 6), { ...call, callee: 's5' }).call?.status).toBe('initiating')
  })
})
