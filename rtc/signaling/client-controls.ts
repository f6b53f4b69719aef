/**
 * Device controls at a Node signaling client, both ways: the controls a teacher's client sends,
 * resent until the lamp's ACK ({@link ControlSender}), and the controls a lamp runs, each id once
 * ({@link ControlRunner}).
 */
import type { Logger } from '@libp2p/logger'
import {
  CONTROL_DEDUP_SIZE,
  CONTROL_MAX_ATTEMPTS,
  CONTROL_RETRY_MS,
  CONTROL_RUNNING_TIMEOUT_MS,
} from '../constants.ts'
import { ControlTimeoutError } from '../errors.ts'
import { BoundedMap } from '../util/bounded-map.ts'
import type { ClientMessage, DeviceCommand, PhotoUploadOffer, ServerMessage } from './messages.ts'
import { Retransmitter } from './retransmit.ts'

/** Result of running a device control on a lamp. */
export interface ControlResult {
  ok: boolean
  result?: { url?: string }
  error?: string
}

/**
 * Runs a device control on this client (a lamp). Each id runs at most once. `upload` comes
 * with a `capture-photo` control when the server hands out upload grants.
 */
export type ControlHandler = (
  command: DeviceCommand,
  id: string,
  upload?: PhotoUploadOffer,
) => Promise<ControlResult>

/** Live things the control halves of a client use. */
export interface ClientControlsComponents {
  /** Sends one message to the server if connected; false otherwise. */
  send(msg: ClientMessage): boolean
}

/** Options of {@link ControlSender}. */
export interface ControlSenderInit {
  /** @default {@link CONTROL_RETRY_MS} */
  controlRetryMs?: number
  /** @default {@link CONTROL_MAX_ATTEMPTS} */
  controlMaxAttempts?: number
  /**
   * How long a control the lamp said it is running (`control-progress`) may take before
   * {@link ControlSender.control} rejects. @default {@link CONTROL_RUNNING_TIMEOUT_MS}
   */
  controlRunningMs?: number
}

/** The controls this client sent, until each has its ACK. */
export class ControlSender {
  private readonly components: ClientControlsComponents
  private readonly init: ControlSenderInit
  private readonly controls: Retransmitter<string>
  private readonly waiting = new Map<string, (ack: ControlResult) => void>()
  private readonly failed = new Map<string, (err: Error) => void>()
  /**
   * Our controls the lamp is running: no longer resent on a timer, only after a reconnect
   * (the server answers a duplicate with its ACK once there is one); each has a deadline.
   */
  private readonly running = new Map<
    string,
    { resend: () => void; deadline: ReturnType<typeof setTimeout> }
  >()

  constructor(components: ClientControlsComponents, init: ControlSenderInit = {}) {
    this.components = components
    this.init = init
    this.controls = new Retransmitter({
      retryMs: init.controlRetryMs ?? CONTROL_RETRY_MS,
      maxAttempts: init.controlMaxAttempts ?? CONTROL_MAX_ATTEMPTS,
    })
  }

  /** Sends `command` to `target` as `id` and resolves with its ACK: see `SignalingClient.control`. */
  control(
    id: string,
    target: string,
    command: DeviceCommand,
    options: { signal?: AbortSignal } = {},
  ): Promise<ControlResult> {
    // an abort event that already fired will not fire again: do not send at all
    if (options.signal?.aborted === true) return Promise.reject(options.signal.reason)
    return new Promise<ControlResult>((resolve, reject) => {
      const settle = (): void => {
        options.signal?.removeEventListener('abort', onAbort)
        this.waiting.delete(id)
        this.failed.delete(id)
        const running = this.running.get(id)
        clearTimeout(running?.deadline)
        this.running.delete(id)
      }
      const onAbort = (): void => {
        this.controls.ack(id)
        settle()
        reject(options.signal?.reason)
      }
      options.signal?.addEventListener('abort', onAbort, { once: true })
      this.waiting.set(id, (ack) => {
        settle()
        resolve(ack)
      })
      this.failed.set(id, (err) => {
        settle()
        reject(err)
      })
      try {
        this.controls.start(
          id,
          () => this.components.send({ type: 'control', id, target, command }),
          () => this.failed.get(id)?.(new ControlTimeoutError()),
        )
      } catch (err) {
        // CapacityError: too many of our own controls await ACKs; nothing was sent
        settle()
        reject(err)
      }
    })
  }

  /** The lamp's ACK of one of our controls (a repeated or unknown one is ignored). */
  acked(msg: Extract<ServerMessage, { type: 'control-ack' }>): void {
    const running = this.running.get(msg.id)
    if (running !== undefined) {
      clearTimeout(running.deadline)
      this.running.delete(msg.id)
    } else if (!this.controls.ack(msg.id)) return
    const ack: ControlResult = { ok: msg.ok }
    if (msg.result !== undefined) ack.result = msg.result
    if (msg.error !== undefined) ack.error = msg.error
    this.waiting.get(msg.id)?.(ack)
  }

  /** The lamp runs our control `id`: stop resending it, and wait up to `controlRunningMs` for its ACK. */
  progress(id: string): void {
    const resolve = this.waiting.get(id)
    if (resolve === undefined || this.running.has(id)) return
    const resend = this.controls.sender(id)
    this.controls.ack(id)
    if (resend === undefined) return
    const deadline = setTimeout(() => {
      this.running.delete(id)
      this.failed.get(id)?.(new ControlTimeoutError())
    }, this.init.controlRunningMs ?? CONTROL_RUNNING_TIMEOUT_MS)
    deadline.unref?.()
    this.running.set(id, { resend, deadline })
  }

  /** Back on the server (welcome): sends every control still without its ACK again. */
  resend(): void {
    this.controls.flush()
    for (const r of this.running.values()) r.resend()
  }

  /** Stops resending and every deadline (the client closes for good). */
  clear(): void {
    this.controls.clear()
    for (const r of this.running.values()) clearTimeout(r.deadline)
    this.running.clear()
  }
}

/** Options of {@link ControlRunner}. */
export interface ControlRunnerInit {
  /** Runs the controls; without it each is answered `unsupported`. */
  onControl?: ControlHandler
}

/** Live things {@link ControlRunner} uses. */
export interface ControlRunnerComponents extends ClientControlsComponents {
  logger: Logger
}

/** The controls sent to this client (a lamp): each id runs once, repeats get its result again. */
export class ControlRunner {
  private readonly components: ControlRunnerComponents
  private readonly init: ControlRunnerInit
  private readonly ran = new BoundedMap<string, ControlResult | 'running'>(CONTROL_DEDUP_SIZE)

  constructor(components: ControlRunnerComponents, init: ControlRunnerInit = {}) {
    this.components = components
    this.init = init
  }

  /** Runs control `id`, or answers it if it ran or runs already; never throws. */
  run(id: string, command: DeviceCommand, upload: PhotoUploadOffer | undefined): void {
    const { send } = this.components
    const seen = this.ran.get(id)
    // a retransmission of what we are still doing: say so, or the sender gives up on it
    if (seen === 'running') {
      send({ type: 'control-progress', id })
      return
    }
    if (seen !== undefined) {
      send({ type: 'control-ack', id, ...seen })
      return
    }
    const handler = this.init.onControl
    if (handler === undefined) {
      send({ type: 'control-ack', id, ok: false, error: 'unsupported' })
      return
    }
    this.ran.set(id, 'running')
    handler(command, id, upload)
      .catch((err: unknown): ControlResult => ({ ok: false, error: String((err as Error)?.message ?? err) }))
      .then((result) => {
        this.ran.set(id, result)
        send({ type: 'control-ack', id, ...result })
      })
      .catch((err) => this.components.logger.error('control %s failed %e', id, err))
  }
}
