/** Public types of the classroom state machine. */
import type { Role } from '../auth/token.ts'

/** `one-on-one`: teacher and one lamp; `group`: up to 6 students; `class`: up to 200, publishing from a stage. */
export type RoomKind = 'one-on-one' | 'group' | 'class'

/**
 * A room's kind as its state knows it. A room a student or parent opened is `pending` until a
 * teacher joins: only a teacher's token names the kind. While pending, students are admitted up to
 * the largest kind's limit, nobody but a teacher publishes and no hand is raised.
 */
export type RoomStateKind = RoomKind | 'pending'

/** Life of a call: initiating → ringing → accepted | rejected | timeout | cancelled; accepted → in-call → ended. */
export type CallStatus =
  | 'initiating'
  | 'ringing'
  | 'accepted'
  | 'rejected'
  | 'timeout'
  | 'cancelled'
  | 'in-call'
  | 'ended'

/** Call statuses after which a new call may start. */
export const TERMINAL_CALL: ReadonlySet<CallStatus> = new Set(['rejected', 'timeout', 'cancelled', 'ended'])

/** A teacher calling one participant (typically a desk lamp). */
export interface Call {
  id: string
  caller: string
  callee: string
  status: CallStatus
  /** When an unanswered call times out, ms since epoch. */
  ringDeadline: number
}

/** What the lamp shows. */
export type Screen = 'whiteboard' | 'video'
/** Which camera the lamp uses. */
export type Facing = 'face' | 'desk'

/** One member of a room. */
export interface Participant {
  id: string
  role: Role
  /** Parents are hidden, receive-only observers. */
  hidden: boolean
  /** False while the client is disconnected but inside its resume grace period. */
  connected: boolean
  screen: Screen
  camera: Facing
  muted: boolean
}

/** A raised hand, in arrival order. */
export interface Hand {
  user: string
  raisedAt: number
}

/** Everything the classroom layer knows about a room. Treated as immutable. */
export interface RoomState {
  id: string
  kind: RoomStateKind
  participants: Readonly<Record<string, Participant>>
  call: Call | null
  hands: readonly Hand[]
  stage: readonly string[]
  /** Loudest publisher right now, from audio levels. */
  speaker: string | null
}

/** A device setting the teacher changes on a lamp; applied to state once the lamp ACKs it. */
export type DeviceSetting =
  | { kind: 'screen'; screen: Screen }
  | { kind: 'camera'; camera: Facing }
  | { kind: 'mute'; muted: boolean }

/** Inputs of the reducer. `at` is the time the server accepted the event (ms since epoch). */
export type RoomEvent =
  /** `kind`: what the joining teacher's token names; it decides the kind of a `pending` room. */
  | { type: 'join'; at: number; user: string; role: Role; kind?: RoomKind }
  | { type: 'leave'; at: number; user: string }
  | { type: 'presence'; at: number; user: string; connected: boolean }
  | { type: 'call.initiate'; at: number; by: string; callId: string; callee: string }
  | { type: 'call.ringing'; at: number; by: string; callId: string }
  | { type: 'call.accept'; at: number; by: string; callId: string }
  | { type: 'call.reject'; at: number; by: string; callId: string }
  | { type: 'call.cancel'; at: number; by: string; callId: string }
  | { type: 'call.connected'; at: number; by: string; callId: string }
  | { type: 'call.end'; at: number; by: string; callId: string }
  | { type: 'hand.raise'; at: number; by: string }
  | { type: 'hand.lower'; at: number; by: string }
  | { type: 'hand.accept'; at: number; by: string; user: string }
  | { type: 'hand.dismiss'; at: number; by: string; user: string }
  | { type: 'stage.invite'; at: number; by: string; user: string }
  | { type: 'stage.remove'; at: number; by: string; user: string }
  | { type: 'device.applied'; at: number; by: string; setting: DeviceSetting }
  | { type: 'speaker'; at: number; user: string | null }
  | { type: 'tick'; at: number }
