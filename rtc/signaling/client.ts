/**
 * A signaling client for Node (lamps, werift test peers, the benchmark). Keeps a local copy of
 * the room state with the same reducer as the server, resumes after a drop with its last event
 * sequence number, retransmits device controls until ACKed and runs each received control once
 * (both in `client-controls.ts`).
 */
import { EventEmitter } from 'node:events'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Logger } from '@libp2p/logger'
import { logger as createLogger } from '@libp2p/logger'
import WebSocket from 'ws'
import type { Role } from '../auth/token.ts'
import { MAX_MESSAGE_BYTES, RECONNECT_INITIAL_MS, RECONNECT_MAX_MS } from '../constants.ts'
import { MalformedMessageError, RtcError } from '../errors.ts'
import type { IceServer } from '../ice-servers.ts'
import { type RoomLimits, reduce } from '../room/reducer.ts'
import type { RoomEvent, RoomState } from '../room/types.ts'
import { type ControlHandler, type ControlResult, ControlRunner, ControlSender } from './client-controls.ts'
import type { ActionName, ClientMessage, DeviceCommand, ServerMessage } from './messages.ts'

export type { ControlHandler, ControlResult } from './client-controls.ts'

/** Events of {@link SignalingClient}. */
export interface SignalingClientEvents {
  event: [{ seq: number; event: RoomEvent }]
  welcome: [Extract<ServerMessage, { type: 'welcome' }>]
  /**
   * Welcomed into a new session after having had one: the server restarted, or kept the old
   * one past its grace period, so it holds none of this client's media any more. Connections
   * to the SFU made before are dead; {@link publish} and {@link subscribe} make new ones at
   * once, where they would otherwise wait for ICE to give up (30 s).
   */
  rejoined: [Extract<ServerMessage, { type: 'welcome' }>]
  'subscribe-offer': [string]
  error: [RtcError]
  closed: [{ code: number; reason: string }]
  /** Every message from the server, on whichever socket it came, after the client handled it. */
  message: [ServerMessage]
}

/** Options of {@link SignalingClient}. */
export interface SignalingClientInit {
  /** `ws://host:port/ws` */
  url: string
  token: string
  /** Reconnect and resume after an unexpected drop. @default true */
  reconnect?: boolean
  /** First reconnect delay; doubles after each failed attempt. @default {@link RECONNECT_INITIAL_MS} */
  reconnectInitialMs?: number
  /** @default {@link RECONNECT_MAX_MS} */
  reconnectMaxMs?: number
  /** @default `CONTROL_RETRY_MS` */
  controlRetryMs?: number
  /** @default `CONTROL_MAX_ATTEMPTS` */
  controlMaxAttempts?: number
  /**
   * How long a control the lamp said it is running (`control-progress`) may take before
   * {@link SignalingClient.control} rejects. @default `CONTROL_RUNNING_TIMEOUT_MS`
   */
  controlRunningMs?: number
  onControl?: ControlHandler
  logger?: Logger
}

/** A signaling connection to one room. */
export class SignalingClient extends EventEmitter<SignalingClientEvents> {
  /** Local copy of the room state, kept by the shared reducer. */
  state: RoomState | undefined
  /** Last room event applied. */
  seq = 0
  session: string | undefined
  user: string | undefined
  role: Role | undefined
  /** Origin URL the server announced. */
  origin: string | undefined
  /**
   * STUN/TURN servers the server announced in its welcome (empty until then, and on a LAN):
   * `publish` and `subscribe` (`client/media.ts`) create their connections with them.
   */
  iceServers: IceServer[] = []
  /** The server's room limits, from its welcome: events are applied with them. */
  private limits: RoomLimits | undefined
  private socket: WebSocket | undefined
  private closed = false
  /** Aborts the one running reconnect loop, if any. */
  private reconnecting: AbortController | undefined
  private readonly init: SignalingClientInit
  private readonly log: Logger
  /** Controls we sent, until their ACKs. */
  private readonly controls: ControlSender
  /** Controls sent to us (a lamp), each run once. */
  private readonly runner: ControlRunner
  private nextId = 0
  private nextRequest = 0

  constructor(init: SignalingClientInit) {
    super()
    this.init = init
    this.log = init.logger ?? createLogger('dandelion:rtc:client')
    const send = (msg: ClientMessage): boolean => this.send(msg)
    this.controls = new ControlSender({ send }, init)
    this.runner = new ControlRunner({ send, logger: this.log }, init)
  }

  /** Connects (or resumes) and resolves on `welcome`; rejects with the server's reason. */
  async connect(options: { signal?: AbortSignal } = {}): Promise<void> {
    options.signal?.throwIfAborted()
    const socket = new WebSocket(this.init.url)
    this.socket = socket
    await new Promise<void>((resolve, reject) => {
      let error: RtcError | undefined
      const onAbort = (): void => {
        socket.terminate()
        reject(options.signal?.reason)
      }
      options.signal?.addEventListener('abort', onAbort, { once: true })
      const done = (): void => options.signal?.removeEventListener('abort', onAbort)
      socket.on('open', () => {
        const hello: ClientMessage = { type: 'hello', token: this.init.token }
        if (this.session !== undefined) hello.resume = { session: this.session, seq: this.seq }
        socket.send(JSON.stringify(hello))
      })
      socket.on('message', (data) => {
        let msg: ServerMessage
        try {
          msg = JSON.parse(String(data)) as ServerMessage
        } catch {
          return
        }
        if (msg.type === 'error' && this.state === undefined) error = new RtcError(msg.message, msg.code)
        this.receive(msg)
        this.emit('message', msg)
        if (msg.type === 'welcome') {
          done()
          resolve()
        }
      })
      socket.on('error', (err) => {
        done()
        reject(err)
      })
      socket.on('close', (code, reason) => {
        done()
        reject(error ?? new RtcError(`closed: ${code} ${String(reason)}`, 'ERR_CLOSED'))
        this.onClose(socket, code, String(reason))
      })
    })
  }

  private onClose(socket: WebSocket, code: number, reason: string): void {
    if (socket !== this.socket) return
    this.emit('closed', { code, reason })
    // a refusal (4400 and up) will not change by retrying: stop any running loop too
    if (code >= 4400) this.reconnecting?.abort()
    if (this.closed || this.init.reconnect === false || code >= 4400 || this.session === undefined) return
    // a failed attempt of the running loop closes its socket too: the loop itself retries
    if (this.reconnecting !== undefined) return
    const loop = new AbortController()
    this.reconnecting = loop
    this.reconnect(loop.signal)
      .catch((err) => {
        if (!loop.signal.aborted) this.log.error('reconnect failed %e', err)
      })
      .finally(() => {
        if (this.reconnecting === loop) this.reconnecting = undefined
      })
  }

  /** The one reconnect loop: attempts with exponential backoff until one is welcomed or `signal` aborts. */
  private async reconnect(signal: AbortSignal): Promise<void> {
    const max = this.init.reconnectMaxMs ?? RECONNECT_MAX_MS
    let delay = this.init.reconnectInitialMs ?? RECONNECT_INITIAL_MS
    for (;;) {
      await sleep(delay, undefined, { signal, ref: false })
      try {
        await this.connect({ signal })
        return
      } catch (err) {
        signal.throwIfAborted()
        this.log('reconnect attempt failed %e', err)
      }
      delay = Math.min(delay * 2, max)
    }
  }

  private receive(msg: ServerMessage): void {
    switch (msg.type) {
      case 'welcome': {
        // a session the server no longer knew: it started a new one (not a resume)
        const rejoined = this.session !== undefined && msg.session !== this.session
        this.session = msg.session
        this.user = msg.user
        this.role = msg.role
        this.origin = msg.origin
        this.limits = msg.limits
        this.iceServers = msg.iceServers ?? []
        if (!msg.resumed || this.state === undefined) this.state = msg.state
        this.seq = msg.seq
        this.emit('welcome', msg)
        if (rejoined) this.emit('rejoined', msg)
        this.controls.resend()
        return
      }
      case 'ice-servers':
        // TURN credentials minted afresh: for the connections made from now on
        this.iceServers = msg.iceServers
        return
      case 'event':
        if (msg.seq <= this.seq || this.state === undefined) return
        this.seq = msg.seq
        try {
          this.state = reduce(this.state, msg.event, this.limits)
        } catch (err) {
          this.log.error('local state diverged at %d %e', msg.seq, err)
        }
        this.emit('event', { seq: msg.seq, event: msg.event })
        return
      case 'control':
        this.runner.run(msg.id, msg.command, msg.upload)
        return
      case 'control-progress':
        this.controls.progress(msg.id)
        return
      case 'control-ack':
        this.controls.acked(msg)
        return
      case 'subscribe-offer':
        this.emit('subscribe-offer', msg.sdp)
        return
      case 'error':
        if (this.listenerCount('error') > 0) this.emit('error', new RtcError(msg.message, msg.code))
        return
      default:
        return
    }
  }

  /**
   * Sends one message if connected; false otherwise. Throws {@link MalformedMessageError} for a
   * message over `MAX_MESSAGE_BYTES`, which the server would refuse (or, far over, close the
   * socket on): nothing is sent and the connection stays up.
   */
  send(msg: ClientMessage): boolean {
    const text = JSON.stringify(msg)
    const bytes = Buffer.byteLength(text)
    if (bytes > MAX_MESSAGE_BYTES)
      throw new MalformedMessageError(
        `a ${msg.type} of ${bytes} bytes is over the ${MAX_MESSAGE_BYTES} allowed`,
      )
    if (this.socket?.readyState !== WebSocket.OPEN) return false
    this.socket.send(text)
    return true
  }

  /** A fresh request id: put it in a message as `rid` and wait with {@link reply}. */
  requestId(): string {
    // unique per client, which is all a reply is matched against
    return `q${(this.nextRequest++).toString(36)}`
  }

  /**
   * Waits for the answer of type `type` to the request sent with id `rid`, on this socket or the
   * next one after a reconnect; rejects with the server's {@link RtcError} when an `error` names
   * `rid`. Errors naming another request or none (an unrelated refusal: a hand raised too often,
   * a call accepted too late) are not this request's. An answer naming no request is taken, as a
   * server from before request ids sends them; one naming another request is not.
   */
  reply<T extends ServerMessage['type']>(
    rid: string,
    type: T,
    options: { signal?: AbortSignal } = {},
  ): Promise<Extract<ServerMessage, { type: T }>> {
    return this.firstMessage<Extract<ServerMessage, { type: T }>>((msg) => {
      const to = (msg as { rid?: unknown }).rid
      if (msg.type === 'error' && to === rid) return { error: new RtcError(msg.message, msg.code) }
      if (msg.type === type && (to === rid || to === undefined))
        return { value: msg as Extract<ServerMessage, { type: T }> }
      return undefined
    }, options.signal)
  }

  /** Takes a room action (`hand.raise`, `call.accept`, ...). */
  action(action: ActionName, fields: { callId?: string; callee?: string; user?: string } = {}): void {
    this.send({ type: 'action', action, ...fields })
  }

  /**
   * Sends a device control to `target` and resolves with the lamp's ACK. Retransmitted until
   * ACKed (also across reconnects); rejects with {@link ControlTimeoutError} when attempts run out,
   * or `CapacityError` when this client already waits for too many ACKs. Resolves with
   * `{ok: false, error: 'ERR_CAPACITY'}` when the server's relay is full: a busy refusal, nothing
   * ran, send again later (the same id is fine). Resolves at once with `{ok: false, error}` and
   * the code of a refusal (`ERR_FORBIDDEN`: not the teacher, or the target is no student's lamp;
   * `ERR_NOT_IN_ROOM`: the target is not in the room, or left it before ACKing; the same id may be
   * sent once it is back).
   */
  control(
    target: string,
    command: DeviceCommand,
    options: { signal?: AbortSignal; id?: string } = {},
  ): Promise<ControlResult> {
    const id = options.id ?? `${this.user ?? 'c'}-${Date.now().toString(36)}-${this.nextId++}`
    return this.controls.control(id, target, command, options)
  }

  /** Waits for the first room event matching `pred` (or the current state already matching `state`). */
  waitFor(pred: (state: RoomState) => boolean, options: { signal?: AbortSignal } = {}): Promise<RoomState> {
    if (this.state !== undefined && pred(this.state)) return Promise.resolve(this.state)
    if (options.signal?.aborted === true) return Promise.reject(options.signal.reason)
    return new Promise((resolve, reject) => {
      const stop = (): void => {
        this.off('event', check)
        this.off('welcome', check)
        options.signal?.removeEventListener('abort', onAbort)
      }
      const check = (): void => {
        if (this.state !== undefined && pred(this.state)) {
          stop()
          resolve(this.state)
        }
      }
      const onAbort = (): void => {
        stop()
        reject(options.signal?.reason)
      }
      options.signal?.addEventListener('abort', onAbort, { once: true })
      this.on('event', check)
      this.on('welcome', check)
    })
  }

  /**
   * Waits for the next server message of `type`, on this socket or the next one after a
   * reconnect (the server sends a reply to the user's current socket: bound to the socket of
   * the request, a reply sent after a resume was never seen); abort `options.signal` to stop.
   */
  next<T extends ServerMessage['type']>(
    type: T,
    options: { signal?: AbortSignal } = {},
  ): Promise<Extract<ServerMessage, { type: T }>> {
    return this.firstMessage(
      (msg) => (msg.type === type ? { value: msg as Extract<ServerMessage, { type: T }> } : undefined),
      options.signal,
    )
  }

  /**
   * The first server message `settle` decides on, on this socket or the next one: resolves
   * with its `value` or rejects with its `error`; the others are passed over. Abort `signal`
   * to stop waiting.
   */
  private firstMessage<R>(
    settle: (msg: ServerMessage) => { value: R } | { error: Error } | undefined,
    signal?: AbortSignal,
  ): Promise<R> {
    if (signal?.aborted === true) return Promise.reject(signal.reason)
    return new Promise((resolve, reject) => {
      const stop = (): void => {
        this.off('message', onMessage)
        signal?.removeEventListener('abort', onAbort)
      }
      const onAbort = (): void => {
        stop()
        reject(signal?.reason)
      }
      const onMessage = (msg: ServerMessage): void => {
        const out = settle(msg)
        if (out === undefined) return
        stop()
        if ('error' in out) reject(out.error)
        else resolve(out.value)
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      this.on('message', onMessage)
    })
  }

  /** Drops the connection without saying goodbye (the session stays resumable). */
  drop(): void {
    this.socket?.terminate()
  }

  /**
   * Closes for good (close code 1000): the server removes the participant at once, ending or
   * cancelling its call. To keep the session resumable, {@link drop} the socket instead.
   */
  close(): void {
    this.closed = true
    this.reconnecting?.abort()
    this.controls.clear()
    this.socket?.close(1000, 'bye')
  }
}
