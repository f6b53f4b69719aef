/**
 * The server's live rooms, at most {@link MAX_ROOMS}. A room is made by the first valid token
 * that names it and dropped by the session lifecycle when its last session leaves. Every room event
 * goes through {@link RoomRegistry.apply}, which also takes the media of whoever it left unable to
 * publish; a clock ticks every room for ring and hand timeouts.
 */
import { randomBytes } from 'node:crypto'
import type { Logger } from '@libp2p/logger'
import type { UploadGrantIssuer } from '../../node/upload-grant.ts'
import type { TokenClaims } from '../auth/token.ts'
import { DEFAULT_ROOM_KIND, MAX_ROOMS, PHOTO_GRANT_TTL_MS, PHOTO_MAX_BYTES } from '../constants.ts'
import { RoomFullError } from '../errors.ts'
import type { RtcProvider } from '../provider.ts'
import { inCall } from '../room/call.ts'
import { canPublish } from '../room/reducer.ts'
import type { RoomEvent } from '../room/types.ts'
import { ControlRelay } from './controls.ts'
import type { LiveRoom } from './handlers.ts'
import type { PhotoUploadOffer } from './messages.ts'
import { RoomHub } from './room-hub.ts'
import type { SignalingInit } from './server-types.ts'

/** Live things the rooms use. */
export interface RoomRegistryComponents {
  /** Unpublishes whoever may no longer publish. */
  provider: RtcProvider
  logger: Logger
  /** Signs the upload grants of photo controls; without it, none are sent. */
  grants?: UploadGrantIssuer
}

/** Options of {@link RoomRegistry}: those of the server that shape a room. */
export type RoomRegistryInit = Pick<
  SignalingInit,
  | 'origin'
  | 'photoMaxBytes'
  | 'controlRetryMs'
  | 'controlMaxAttempts'
  | 'controlRunningMs'
  | 'tickMs'
  | 'limits'
>

/** The live rooms by id, their clock, and the one way events get into them. */
export class RoomRegistry {
  private readonly rooms = new Map<string, LiveRoom>()
  private readonly components: RoomRegistryComponents
  private readonly init: RoomRegistryInit
  private readonly ticker: ReturnType<typeof setInterval>

  constructor(components: RoomRegistryComponents, init: RoomRegistryInit = {}) {
    this.components = components
    this.init = init
    this.ticker = setInterval(() => this.tick(), init.tickMs ?? 1000)
    this.ticker.unref()
  }

  /** The live room `id`. */
  get(id: string): LiveRoom | undefined {
    return this.rooms.get(id)
  }

  /** Every live room. */
  values(): IterableIterator<LiveRoom> {
    return this.rooms.values()
  }

  /** Forgets room `id`; its relay is the caller's to close. */
  delete(id: string): void {
    this.rooms.delete(id)
  }

  /**
   * The room `claims` names, made if it is not live. Throws a {@link RoomFullError} when the
   * server already holds {@link MAX_ROOMS} rooms.
   */
  open(claims: TokenClaims): LiveRoom {
    const live = this.rooms.get(claims.room)
    if (live !== undefined) return live
    if (this.rooms.size >= MAX_ROOMS) throw new RoomFullError('server holds too many rooms')
    // The kind is "only honoured for teachers": a room a student or parent opens waits, pending,
    // for the first teacher's token to name it (students often arrive before their teacher).
    const kind = claims.role === 'teacher' ? (claims.kind ?? DEFAULT_ROOM_KIND) : 'pending'
    const hub = new RoomHub(claims.room, kind, { limits: this.init.limits })
    const relay = new ControlRelay(
      {
        send: (user, message) => hub.send(user, message),
        applied: (target, setting) => {
          try {
            this.apply(room, { type: 'device.applied', at: Date.now(), by: target, setting })
          } catch (err) {
            this.components.logger.error('device setting not applied %e', err)
          }
        },
        photoUpload: (target) => this.photoUpload(target),
      },
      {
        retryMs: this.init.controlRetryMs,
        maxAttempts: this.init.controlMaxAttempts,
        runningMs: this.init.controlRunningMs,
      },
    )
    const room: LiveRoom = { hub, relay }
    this.rooms.set(claims.room, room)
    return room
  }

  /**
   * Reduces `event` into `room` and unpublishes whoever lost the right to publish. Returns the
   * event's sequence number, or undefined when it changed nothing (and was not broadcast). A bound
   * property, not a method: handlers take it out of their context.
   */
  readonly apply = (room: LiveRoom, event: RoomEvent): number | undefined => {
    const { provider, logger: log } = this.components
    const hadPublish = new Set(
      Object.keys(room.hub.state.participants).filter((u) => canPublish(room.hub.state, u)),
    )
    const seq = room.hub.apply(event)
    for (const u of hadPublish) {
      if (!canPublish(room.hub.state, u)) {
        provider.unpublish(room.hub.state.id, u).catch((err) => log.error('unpublish %s failed %e', u, err))
      }
    }
    return seq
  }

  /** Whether `user` is an end of a live call in a room other than `room`. Bound, like {@link apply}. */
  readonly inCallElsewhere = (user: string, room: LiveRoom, at: number): boolean => {
    // at most MAX_ROOMS rooms, and only for a call being started
    for (const other of this.rooms.values())
      if (other !== room && inCall(other.hub.state, user, at)) return true
    return false
  }

  /** Stops the clock and every room's relay, and forgets the rooms. */
  close(): void {
    clearInterval(this.ticker)
    for (const room of this.rooms.values()) room.relay.close()
    this.rooms.clear()
  }

  /** The room clock: ring deadlines and hand timeouts pass. */
  private tick(): void {
    const at = Date.now()
    for (const room of this.rooms.values()) {
      try {
        this.apply(room, { type: 'tick', at })
      } catch (err) {
        this.components.logger.error('tick failed %e', err)
      }
    }
  }

  /**
   * The upload grant of a photo control for `target`: one resource per photo, made once per
   * control (the relay reuses it on every retransmission). The name carries 128 random bits:
   * the origin serves a photo to whoever has its name, so it must not be derivable from the
   * room, the control id (which the teacher chooses) or the lamp, nor be enumerable.
   */
  private photoUpload(target: string): PhotoUploadOffer | undefined {
    const { origin } = this.init
    const { grants } = this.components
    if (origin === undefined || grants === undefined) return undefined
    const name = `homework-${target}-${randomBytes(16).toString('hex')}`
    const maxBytes = this.init.photoMaxBytes ?? PHOTO_MAX_BYTES
    const grant = grants.issue({ name, type: 'image', max: maxBytes, ttlMs: PHOTO_GRANT_TTL_MS })
    return { origin, name, grant, maxBytes }
  }
}
