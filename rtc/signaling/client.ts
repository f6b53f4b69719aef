/**
 * A signaling client for Node (lamps, werift test peers, the benchmark). Keeps a local copy of
 * the room state with the same reducer as the server, resumes after a drop with its last event
 * sequence number (the reconnect loop in `client-reconnect.ts`), retransmits device controls
 * until ACKed and runs each received control once (both in `client-controls.ts`), and waits for
 * answers and room states (`client-waits.ts`). Its events and options are in `client-types.ts`.
 */
import { EventEmitter } from 'node:events'
import type { Logger } from '@libp2p/logger'
import { logger as createLogger } from '@libp2p/logger'
import WebSocket from 'ws'
import type { Role } from '../auth/token.ts'
import { MAX_MESSAGE_BYTES } from '../constants.ts'
import { MalformedMessageError, RtcError } from '../errors.ts'
import type { IceServer } from '../ice-servers.ts'
import { type RoomLimits, reduce } from '../room/reducer.ts'
import type { RoomState } from '../room/types.ts'
import { type ControlResult, ControlRunner, ControlSender } from './client-controls.ts'
import { Reconnector } from './client-reconnect.ts'
import type { SignalingClientEvents, SignalingClientInit } from './client-types.ts'
import { waitNext, waitReply, waitState } from './client-waits.ts'
import type { ActionName, ClientMessage, DeviceCommand, ServerMessage } from './messages.ts'

export type { ControlHandler, ControlResult } from './client-controls.ts'
export type { SignalingClientEvents, SignalingClientInit } from './client-types.ts'

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
  /** Reconnects after a drop, one loop at a time. */
  private readonly reconnector: Reconnector
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
    this.reconnector = new Reconnector(
      { connect: (options) => this.connect(options), logger: this.log },
      init,
    )
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
    this.reconnector.closed(code, !this.closed && this.init.reconnect !== false && this.session !== undefined)
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
    return waitReply(this, rid, type, options.signal)
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
    return waitState(this, pred, options.signal)
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
    return waitNext(this, type, options.signal)
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
    this.reconnector.stop()
    this.controls.clear()
    this.socket?.close(1000, 'bye')
  }
}
