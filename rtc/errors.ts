/**
 * Typed errors of the rtc service. Match on `name` or `code`, never on message text.
 * `code` is also what a client receives in an `error` message or a WebSocket close reason.
 */

/** Base class: every rtc error has a stable `code`. */
export class RtcError extends Error {
  /** Stable machine-readable code. */
  readonly code: string
  constructor(message: string, code: string) {
    super(message)
    this.code = code
  }
}

/** The token is missing, malformed, expired or wrongly signed. */
export class InvalidTokenError extends RtcError {
  static readonly code = 'ERR_INVALID_TOKEN'
  override name = 'InvalidTokenError'
  constructor(message = 'invalid token') {
    super(message, InvalidTokenError.code)
  }
}

/** The room already holds as many participants of this role as its kind allows. */
export class RoomFullError extends RtcError {
  static readonly code = 'ERR_ROOM_FULL'
  override name = 'RoomFullError'
  constructor(message = 'room is full') {
    super(message, RoomFullError.code)
  }
}

/** The stage of a class already holds the maximum number of students. */
export class StageFullError extends RtcError {
  static readonly code = 'ERR_STAGE_FULL'
  override name = 'StageFullError'
  constructor(message = 'stage is full') {
    super(message, StageFullError.code)
  }
}

/** The sender's role may not perform this action. */
export class ForbiddenError extends RtcError {
  static readonly code = 'ERR_FORBIDDEN'
  override name = 'ForbiddenError'
  constructor(message = 'not allowed for this role') {
    super(message, ForbiddenError.code)
  }
}

/** The event does not apply in the room's current state (e.g. accepting a call that is not ringing). */
export class InvalidTransitionError extends RtcError {
  static readonly code = 'ERR_INVALID_TRANSITION'
  override name = 'InvalidTransitionError'
  constructor(message = 'invalid transition') {
    super(message, InvalidTransitionError.code)
  }
}

/** A message failed schema validation or was too large. */
export class MalformedMessageError extends RtcError {
  static readonly code = 'ERR_MALFORMED_MESSAGE'
  override name = 'MalformedMessageError'
  constructor(message = 'malformed message') {
    super(message, MalformedMessageError.code)
  }
}

/** The user or target is not in the room. */
export class NotInRoomError extends RtcError {
  static readonly code = 'ERR_NOT_IN_ROOM'
  override name = 'NotInRoomError'
  constructor(message = 'not in room') {
    super(message, NotInRoomError.code)
  }
}

/** A client sent messages faster than the server accepts them. */
export class RateLimitedError extends RtcError {
  static readonly code = 'ERR_RATE_LIMITED'
  override name = 'RateLimitedError'
  constructor(message = 'too many messages') {
    super(message, RateLimitedError.code)
  }
}

/** A device control was not ACKed after every retransmission. */
export class ControlTimeoutError extends RtcError {
  static readonly code = 'ERR_CONTROL_TIMEOUT'
  override name = 'ControlTimeoutError'
  constructor(message = 'device did not acknowledge the control') {
    super(message, ControlTimeoutError.code)
  }
}

/** The server configuration is invalid. */
export class InvalidConfigError extends RtcError {
  static readonly code = 'ERR_INVALID_CONFIG'
  override name = 'InvalidConfigError'
  constructor(message = 'invalid config') {
    super(message, InvalidConfigError.code)
  }
}

/** A media operation failed (negotiation, unknown peer). */
export class MediaError extends RtcError {
  static readonly code = 'ERR_MEDIA'
  override name = 'MediaError'
  constructor(message = 'media error') {
    super(message, MediaError.code)
  }
}

/** A worker shard died (crashed or was terminated); calls to it fail with this instead of hanging. */
export class ShardCrashedError extends RtcError {
  static readonly code = 'ERR_SHARD_CRASHED'
  override name = 'ShardCrashedError'
  constructor(message = 'shard worker is gone') {
    super(message, ShardCrashedError.code)
  }
}

/**
 * The same user connected again elsewhere (a second tab, a restarted lamp): the older connection
 * is closed with this. A refusal, so the client it closes does not reconnect and take the session
 * back (two clients of one user would otherwise replace each other for ever).
 */
export class SessionReplacedError extends RtcError {
  static readonly code = 'ERR_SESSION_REPLACED'
  override name = 'SessionReplacedError'
  constructor(message = 'replaced by a newer connection of the same user') {
    super(message, SessionReplacedError.code)
  }
}

/**
 * Too much is pending already (e.g. 1024 un-ACKed device controls in a room): nothing was
 * accepted and nothing else was dropped to make room. A busy refusal: retry once some finish.
 */
export class CapacityError extends RtcError {
  static readonly code = 'ERR_CAPACITY'
  override name = 'CapacityError'
  constructor(message = 'too many pending, retry later') {
    super(message, CapacityError.code)
  }
}

/**
 * A participant changed its own room state (hand raised / lowered, left the stage) faster than
 * its per-user allowance. Only that action is refused; unlike {@link RateLimitedError} the
 * connection stays up.
 */
export class ActionRateLimitedError extends RtcError {
  static readonly code = 'ERR_ACTION_RATE_LIMITED'
  override name = 'ActionRateLimitedError'
  constructor(message = 'too many hand and stage changes, slow down') {
    super(message, ActionRateLimitedError.code)
  }
}

/**
 * A call names someone who is already in a live call (ringing, answered or connected) in another
 * room: a lamp that is a member of two rooms rings for one call at a time, in the room whose call
 * came first. Nothing changed; call again once that call is over.
 */
export class BusyError extends RtcError {
  static readonly code = 'ERR_BUSY'
  override name = 'BusyError'
  constructor(message = 'already in a call') {
    super(message, BusyError.code)
  }
}

/**
 * The caller's `signal` aborted a media call (a publish or subscribe negotiation): what it had
 * set up (peer connection, tracks, join slot) is released. `name` is `AbortError`, as for a
 * DOM abort, so generic checks match it too; `cause` is the signal's reason.
 */
export class AbortError extends RtcError {
  static readonly code = 'ERR_ABORTED'
  override name = 'AbortError'
  constructor(message = 'aborted', options: { cause?: unknown } = {}) {
    super(message, AbortError.code)
    if (options.cause !== undefined) this.cause = options.cause
  }
}
