/**
 * Device controls from a teacher to a lamp: every control has an id, is relayed to the lamp and
 * retransmitted until the lamp ACKs it, and is de-duplicated by id on both hops. A teacher that
 * repeats a control it already got an ACK for receives the same ACK again, without the lamp
 * running it twice. At most `dedupSize` controls are in flight per room; one more is refused with
 * `control-ack {ok: false, error: ERR_CAPACITY}` and not remembered, so the teacher may send the
 * same id again later. A lamp still running a control when it is resent (a photo uploading over
 * a slow link) answers `control-progress`: for a photo, the relay stops resending, passes it
 * on to the teacher and waits up to `runningMs` (15 min) for the ACK instead of timing out
 * after the resends (~31 s). A lamp that leaves the room will not ACK: its pending controls
 * are refused at once (`ERR_NOT_IN_ROOM`, see {@link ControlRelay.left}).
 */
import {
  CONTROL_DEDUP_SIZE,
  CONTROL_MAX_ATTEMPTS,
  CONTROL_RETRY_MS,
  CONTROL_RUNNING_TIMEOUT_MS,
} from '../constants.ts'
import { CapacityError, ControlTimeoutError, NotInRoomError } from '../errors.ts'
import type { DeviceSetting } from '../room/types.ts'
import { BoundedMap } from '../util/bounded-map.ts'
import type { DeviceCommand, PhotoUploadOffer, ServerMessage } from './messages.ts'
import { Retransmitter } from './retransmit.ts'

/** What the relay needs from the server. */
export interface ControlRelayComponents {
  /** Sends to `user`'s current socket; false if the user is not connected right now. */
  send(user: string, message: ServerMessage): boolean
  /** The lamp confirmed a setting: the room state should record it. */
  applied(target: string, setting: DeviceSetting): void
  /**
   * The upload a `capture-photo` control `id` for `target` may make (an upload grant), made
   * once per control and sent with each retransmission; undefined when uploads are not set up.
   */
  photoUpload?(target: string, id: string): PhotoUploadOffer | undefined
}

/** Options of {@link ControlRelay}. */
export interface ControlRelayInit {
  /** @default {@link CONTROL_RETRY_MS} */
  retryMs?: number
  /** @default {@link CONTROL_MAX_ATTEMPTS} */
  maxAttempts?: number
  /** Ids remembered for de-duplication, and controls in flight at once. @default {@link CONTROL_DEDUP_SIZE} */
  dedupSize?: number
  /** How long a control the lamp said it is running may take. @default {@link CONTROL_RUNNING_TIMEOUT_MS} */
  runningMs?: number
}

type Ack = Extract<ServerMessage, { type: 'control-ack' }>

interface InFlight {
  from: string
  target: string
  command: DeviceCommand
  upload?: PhotoUploadOffer
  /** Set once the lamp said it is running the control: no more resends, a longer deadline. */
  running?: ReturnType<typeof setTimeout>
}

type ControlMessage = Extract<ServerMessage, { type: 'control' }>

/** The message that relays control `id` to its lamp. */
function relayed(id: string, f: InFlight): ControlMessage {
  const message: ControlMessage = { type: 'control', id, from: f.from, command: f.command }
  if (f.upload !== undefined) message.upload = f.upload
  return message
}

/** Turns a confirmed command into the setting it changes, if any. */
export function settingOf(command: DeviceCommand): DeviceSetting | undefined {
  switch (command.kind) {
    case 'screen':
      return { kind: 'screen', screen: command.screen }
    case 'camera':
      return { kind: 'camera', camera: command.camera }
    case 'mute':
      return { kind: 'mute', muted: command.muted }
    default:
      return undefined
  }
}

/** Controls that may run for minutes (an upload); the others are answered at once or time out. */
const TAKES_LONG: ReadonlySet<DeviceCommand['kind']> = new Set(['capture-photo'])

/** The relay for one room. */
export class ControlRelay {
  private readonly components: ControlRelayComponents
  private readonly retransmitter: Retransmitter<string>
  /** At most `size`, checked before anything is inserted: never evicts. */
  private readonly inFlight = new Map<string, InFlight>()
  private readonly done: BoundedMap<string, Ack>
  private readonly size: number
  private readonly runningMs: number

  constructor(components: ControlRelayComponents, init: ControlRelayInit = {}) {
    this.components = components
    const size = init.dedupSize ?? CONTROL_DEDUP_SIZE
    this.size = size
    this.runningMs = init.runningMs ?? CONTROL_RUNNING_TIMEOUT_MS
    this.retransmitter = new Retransmitter({
      retryMs: init.retryMs ?? CONTROL_RETRY_MS,
      maxAttempts: init.maxAttempts ?? CONTROL_MAX_ATTEMPTS,
      maxPending: size,
    })
    this.done = new BoundedMap(size)
  }

  /** A teacher sent control `id`. Duplicates of a finished control get the stored ACK again. */
  submit(from: string, target: string, id: string, command: DeviceCommand): void {
    const finished = this.done.get(id)
    if (finished !== undefined) {
      this.components.send(from, finished)
      return
    }
    if (this.inFlight.has(id)) return
    // controls being run are in flight without being retransmitted: count them all
    if (this.inFlight.size >= this.size) {
      // Evicting an older control here would drop its ACK, and a half-inserted one would make a
      // resubmitted id a silent no-op: refuse this one whole, unremembered, so it can be retried.
      const err = new CapacityError(`${this.inFlight.size} controls await their device's ACK`)
      this.components.send(from, { type: 'control-ack', id, ok: false, error: err.code })
      return
    }
    const f: InFlight = { from, target, command }
    if (command.kind === 'capture-photo') {
      const upload = this.components.photoUpload?.(target, id)
      if (upload !== undefined) f.upload = upload
    }
    this.inFlight.set(id, f)
    this.retransmitter.start(
      id,
      () => this.components.send(target, relayed(id, f)),
      () => {
        const err = new ControlTimeoutError()
        this.finish(id, { type: 'control-ack', id, ok: false, error: err.code })
      },
    )
  }

  /** The lamp ACKed control `id`. ACKs from anyone but the target, or for unknown ids, are ignored. */
  ack(by: string, message: Omit<Ack, 'type'>): void {
    const f = this.inFlight.get(message.id)
    if (f === undefined || f.target !== by) return
    this.retransmitter.ack(message.id)
    if (message.ok) {
      const setting = settingOf(f.command)
      if (setting !== undefined) this.components.applied(f.target, setting)
    }
    const ack: Ack = { type: 'control-ack', id: message.id, ok: message.ok }
    if (message.result !== undefined) ack.result = message.result
    if (message.error !== undefined) ack.error = message.error
    this.finish(message.id, ack)
  }

  /**
   * The lamp says it is running control `id` (it got a retransmission while still at it, e.g.
   * uploading a photo over a slow link): resending stops, the control gets
   * {@link ControlRelayInit.runningMs} to finish, and the teacher hears of it so that its
   * client waits as long. From anyone but the target, or for unknown ids, ignored.
   */
  progress(by: string, id: string): void {
    const f = this.inFlight.get(id)
    if (f === undefined || f.target !== by) return
    // a setting (screen, camera, mute) takes a moment: a lamp stuck on one still times out
    if (!TAKES_LONG.has(f.command.kind)) return
    this.retransmitter.ack(id)
    if (f.running === undefined) {
      f.running = setTimeout(() => {
        const err = new ControlTimeoutError()
        this.finish(id, { type: 'control-ack', id, ok: false, error: err.code })
      }, this.runningMs)
      f.running.unref?.()
    }
    this.components.send(f.from, { type: 'control-progress', id })
  }

  private finish(id: string, ack: Ack): void {
    const f = this.inFlight.get(id)
    clearTimeout(f?.running)
    this.inFlight.delete(id)
    this.done.set(id, ack)
    if (f !== undefined) this.components.send(f.from, ack)
  }

  /**
   * `user` left the room (closed its connection, its grace period ran out, sent away): every
   * control pending for it is refused at once, `ERR_NOT_IN_ROOM` by id, as a control sent to
   * someone not in the room is. Its lamp will not ACK: it was resent until the timeout (~31 s;
   * 15 min for a photo the lamp said it was taking) and then reported as a lamp that does not
   * answer. Not remembered, like that refusal, so the same id runs if the lamp comes back.
   */
  left(user: string): void {
    const code = new NotInRoomError().code
    for (const [id, f] of [...this.inFlight]) {
      if (f.target !== user) continue
      this.retransmitter.ack(id)
      clearTimeout(f.running)
      this.inFlight.delete(id)
      this.components.send(f.from, { type: 'control-ack', id, ok: false, error: code })
    }
  }

  /** Sends every control pending for `user` again (it just reconnected). */
  resend(user: string): void {
    for (const [id, f] of this.inFlight) {
      if (f.target === user) this.components.send(user, relayed(id, f))
    }
  }

  /** Stops all retransmissions and deadlines. */
  close(): void {
    this.retransmitter.clear()
    for (const f of this.inFlight.values()) clearTimeout(f.running)
  }
}
