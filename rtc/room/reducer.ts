/**
 * The classroom state machine: a pure reducer over {@link RoomEvent}s. No I/O, no clock:
 * time comes in on each event, so every transition is testable without media. Calls are
 * `call.ts`; looking participants up and checking who sent an action is `participants.ts`.
 */
import {
  DEFAULT_ROOM_KIND,
  HAND_TIMEOUT_MS,
  MAX_HANDS,
  MAX_PARENTS,
  MAX_STAGE,
  MAX_STUDENTS,
  RING_TIMEOUT_MS,
} from '../constants.ts'
import { ForbiddenError, InvalidTransitionError, RoomFullError, StageFullError } from '../errors.ts'
import { calledOn, reduceCall, withCall } from './call.ts'
import { count, member, participant, teacher } from './participants.ts'
import type { Participant, RoomEvent, RoomKind, RoomState, RoomStateKind } from './types.ts'
import { TERMINAL_CALL } from './types.ts'

/** Limits the reducer enforces. */
export interface RoomLimits {
  /** Students on a class's stage. @default {@link MAX_STAGE} */
  maxStage: number
  /** @default {@link MAX_PARENTS} */
  maxParents: number
  /** @default {@link RING_TIMEOUT_MS} */
  ringTimeoutMs: number
  /** @default {@link HAND_TIMEOUT_MS} */
  handTimeoutMs: number
  /** Students per room kind. @default {@link MAX_STUDENTS} */
  maxStudents: Readonly<Record<RoomKind, number>>
}

/** The default limits. */
export const DEFAULT_LIMITS: RoomLimits = {
  maxStage: MAX_STAGE,
  maxParents: MAX_PARENTS,
  ringTimeoutMs: RING_TIMEOUT_MS,
  handTimeoutMs: HAND_TIMEOUT_MS,
  maxStudents: MAX_STUDENTS,
}

/** A new, empty room; `pending` when no teacher's token named its kind yet. */
export function createRoomState(id: string, kind: RoomStateKind): RoomState {
  return { id, kind, participants: {}, call: null, hands: [], stage: [], speaker: null }
}

function withoutUser(list: readonly string[], user: string): string[] {
  return list.filter((u) => u !== user)
}

/**
 * Puts `user` on stage. The stage limit holds in a class only, where the stage decides who
 * publishes; in a group (at most 6 students, all publishing) the stage only shows whose hand was
 * taken, and a teacher taking a fifth hand was refused with ERR_STAGE_FULL. A student called on
 * in a class holds a place too; going on stage itself, it keeps that place.
 */
function addToStage(state: RoomState, user: string, at: number, limits: RoomLimits): RoomState {
  const p = member(state, user)
  if (p.role !== 'student') throw new ForbiddenError('only students go on stage')
  if (state.stage.includes(user)) return { ...state, hands: state.hands.filter((h) => h.user !== user) }
  const called = calledOn(state, at)
  const taken = state.stage.length + (called !== undefined && called !== user ? 1 : 0)
  if (state.kind === 'class' && taken >= limits.maxStage)
    throw new StageFullError(
      called === undefined
        ? `stage holds ${limits.maxStage}`
        : `stage holds ${limits.maxStage}, one place held by the call with ${called}`,
    )
  return { ...state, stage: [...state.stage, user], hands: state.hands.filter((h) => h.user !== user) }
}

function join(state: RoomState, event: Extract<RoomEvent, { type: 'join' }>, limits: RoomLimits): RoomState {
  const existing = participant(state, event.user)
  if (existing !== undefined) {
    if (existing.role !== event.role) throw new InvalidTransitionError('already joined with another role')
    if (existing.connected) return state
    return {
      ...state,
      participants: { ...state.participants, [event.user]: { ...existing, connected: true } },
    }
  }
  if (event.role === 'teacher' && count(state, 'teacher') >= 1)
    throw new RoomFullError('room already has a teacher')
  // The room kind is only honoured from a teacher's token: the first teacher names a pending
  // room's kind. Students beyond what that kind holds are the server's to send away.
  const kind =
    state.kind === 'pending' && event.role === 'teacher' ? (event.kind ?? DEFAULT_ROOM_KIND) : state.kind
  const maxStudents = studentLimit(kind, limits)
  if (event.role === 'student' && count(state, 'student') >= maxStudents) {
    throw new RoomFullError(`a ${kind} room holds ${maxStudents} students`)
  }
  if (event.role === 'parent' && count(state, 'parent') >= limits.maxParents) {
    throw new RoomFullError(`a room holds ${limits.maxParents} parents`)
  }
  const p: Participant = {
    id: event.user,
    role: event.role,
    hidden: event.role === 'parent',
    connected: true,
    screen: 'video',
    camera: 'face',
    muted: false,
  }
  return { ...state, kind, participants: { ...state.participants, [event.user]: p } }
}

/** Students a room of `kind` holds; a pending room holds as many as the largest kind. */
export function studentLimit(kind: RoomStateKind, limits: RoomLimits = DEFAULT_LIMITS): number {
  return kind === 'pending' ? Math.max(...Object.values(limits.maxStudents)) : limits.maxStudents[kind]
}

function leave(state: RoomState, user: string): RoomState {
  if (participant(state, user) === undefined) return state
  const participants = { ...state.participants }
  delete participants[user]
  let call = state.call
  if (call !== null && (call.caller === user || call.callee === user) && !TERMINAL_CALL.has(call.status)) {
    const ended = call.status === 'accepted' || call.status === 'in-call'
    call = { ...call, status: ended ? 'ended' : call.caller === user ? 'cancelled' : 'rejected' }
  }
  return {
    ...state,
    participants,
    call,
    hands: state.hands.filter((h) => h.user !== user),
    stage: withoutUser(state.stage, user),
    speaker: state.speaker === user ? null : state.speaker,
  }
}

function tick(state: RoomState, at: number, limits: RoomLimits): RoomState {
  let next = state
  const call = state.call
  if (
    call !== null &&
    (call.status === 'initiating' || call.status === 'ringing') &&
    at >= call.ringDeadline
  ) {
    next = withCall(next, call, 'timeout')
  }
  const hands = state.hands.filter((h) => at - h.raisedAt < limits.handTimeoutMs)
  if (hands.length !== state.hands.length) next = { ...next, hands }
  return next
}

/**
 * Applies one event. Returns the next state (the same object when nothing changed) or throws a
 * typed {@link RtcError} (`ForbiddenError`, `InvalidTransitionError`, `RoomFullError`, ...).
 */
export function reduce(state: RoomState, event: RoomEvent, limits: RoomLimits = DEFAULT_LIMITS): RoomState {
  switch (event.type) {
    case 'join':
      return join(state, event, limits)
    case 'leave':
      return leave(state, event.user)
    case 'presence': {
      const p = member(state, event.user)
      // a user already connected (a second tab, a resume racing its old socket) changes nothing:
      // the same state means no numbered event, no broadcast, no entry in the resume log
      if (p.connected === event.connected) return state
      return {
        ...state,
        participants: { ...state.participants, [p.id]: { ...p, connected: event.connected } },
      }
    }
    case 'call.initiate':
    case 'call.ringing':
    case 'call.accept':
    case 'call.reject':
    case 'call.cancel':
    case 'call.connected':
    case 'call.end':
      return reduceCall(state, event, limits)
    case 'hand.raise': {
      const p = member(state, event.by)
      if (p.role !== 'student') throw new ForbiddenError('only students raise hands')
      if (state.kind === 'one-on-one') throw new InvalidTransitionError('no hands in a one-on-one room')
      if (state.kind === 'pending') throw new InvalidTransitionError('the room waits for its teacher')
      if (state.stage.includes(p.id) || state.hands.some((h) => h.user === p.id)) return state
      if (state.hands.length >= MAX_HANDS) throw new RoomFullError('hand queue is full')
      return { ...state, hands: [...state.hands, { user: p.id, raisedAt: event.at }] }
    }
    case 'hand.lower': {
      if (!state.hands.some((h) => h.user === event.by)) return state
      return { ...state, hands: state.hands.filter((h) => h.user !== event.by) }
    }
    case 'hand.accept': {
      teacher(state, event.by)
      if (!state.hands.some((h) => h.user === event.user))
        throw new InvalidTransitionError('hand is not raised')
      return addToStage(state, event.user, event.at, limits)
    }
    case 'hand.dismiss': {
      teacher(state, event.by)
      if (!state.hands.some((h) => h.user === event.user))
        throw new InvalidTransitionError('hand is not raised')
      return { ...state, hands: state.hands.filter((h) => h.user !== event.user) }
    }
    case 'stage.invite':
      teacher(state, event.by)
      return addToStage(state, event.user, event.at, limits)
    case 'stage.remove': {
      if (event.by !== event.user) teacher(state, event.by)
      if (!state.stage.includes(event.user)) return state
      return { ...state, stage: withoutUser(state.stage, event.user) }
    }
    case 'device.applied': {
      const p = member(state, event.by)
      const s = event.setting
      if (
        (s.kind === 'screen' && p.screen === s.screen) ||
        (s.kind === 'camera' && p.camera === s.camera) ||
        (s.kind === 'mute' && p.muted === s.muted)
      )
        return state
      const next: Participant =
        s.kind === 'screen'
          ? { ...p, screen: s.screen }
          : s.kind === 'camera'
            ? { ...p, camera: s.camera }
            : { ...p, muted: s.muted }
      return { ...state, participants: { ...state.participants, [p.id]: next } }
    }
    case 'speaker':
      return state.speaker === event.user ? state : { ...state, speaker: event.user }
    case 'tick':
      return tick(state, event.at, limits)
  }
}

/**
 * Whether `user` may publish media: teachers always; students in one-on-one and group rooms, or in
 * a class on its stage or called on (the callee of an answered or connected call, until it ends);
 * nobody else, and no student while the room waits for its teacher to name its kind.
 */
export function canPublish(state: RoomState, user: string): boolean {
  const p = participant(state, user)
  if (p === undefined) return false
  if (p.role === 'teacher') return true
  if (p.role === 'parent' || state.kind === 'pending') return false
  if (state.kind !== 'class' || state.stage.includes(user)) return true
  // The teacher calling on a student is asking it to speak: refused, the student answered the
  // call and could not be heard or seen. Its place on stage was held from the ring (calledOn).
  const call = state.call
  return call !== null && call.callee === user && (call.status === 'accepted' || call.status === 'in-call')
}

/** The room as `viewer` may see it: hidden observers are shown to the teacher only. */
export function viewFor(state: RoomState, viewer: Participant['role']): RoomState {
  if (viewer === 'teacher') return state
  const participants: Record<string, Participant> = {}
  for (const p of Object.values(state.participants)) if (!p.hidden) participants[p.id] = p
  return { ...state, participants }
}
