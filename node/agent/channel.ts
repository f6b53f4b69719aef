/**
 * The agent's connection to its trackers: dial them in turn (`tracker-failover.ts`:
 * failover, backoff with jitter), prove the tracker and this node to each other
 * (`channel-handshake.ts`: the challenge, the welcome, each command's signature), drop a
 * connection never welcomed or gone silent, and write frames while connected. It also takes the node's campus membership statements the
 * tracker signs (in the welcome, then in `membership` frames), checked against the
 * tracker's key and the node's own PeerId. Its public shapes (components, options,
 * events) are in `channel-types.ts`.
 */
import { logger } from '@libp2p/logger'
import WebSocket from 'ws'
import { ChannelHandshake } from './channel-handshake.ts'
import type { TrackerChannelComponents, TrackerChannelEvents, TrackerChannelInit } from './channel-types.ts'
import { PROGRESS_HIGH_WATER_BYTES } from './constants.ts'
import { MAX_EXEC_QUEUE } from './executor.ts'
import type { Journal } from './journal.ts'
import { ProgressCoalescer } from './progress-coalescer.ts'
import {
  CHANNEL_PROTOCOL,
  CLOSE_CODES,
  MAX_FRAME_BYTES,
  type NodeFrame,
  parseServerFrame,
  type ServerFrame,
  type UnknownServerFrame,
} from './protocol.ts'
import { TrackerFailover } from './tracker-failover.ts'

export type { TrackerChannelComponents, TrackerChannelEvents, TrackerChannelInit } from './channel-types.ts'

const log = logger('dandelion:node:agent')

/** See the module comment. */
export class TrackerChannel {
  private readonly journal: Journal
  private readonly init: TrackerChannelInit
  private readonly events: TrackerChannelEvents
  /** Proves the tracker of the current connection, and this node to it. */
  private readonly handshake: ChannelHandshake
  private ws?: WebSocket
  private ready = false
  /** Which address is dialed next, and when. */
  private readonly failover: TrackerFailover
  private stopped = true
  private reconnectTimer?: NodeJS.Timeout
  private silenceTimer?: NodeJS.Timeout
  private handshakeTimer?: NodeJS.Timeout
  /** Ends the journal's recovery once a connection stayed up (see {@link welcomed}). */
  private recoveryTimer?: NodeJS.Timeout
  /** Progress held while the channel is backed up. */
  private readonly progress = new ProgressCoalescer(PROGRESS_HIGH_WATER_BYTES, MAX_EXEC_QUEUE)
  /** When the current connection was welcomed (epoch ms). */
  private readyAt = 0
  private receiving: Promise<void> = Promise.resolve()

  constructor(components: TrackerChannelComponents, init: TrackerChannelInit, events: TrackerChannelEvents) {
    this.journal = components.journal
    this.init = init
    this.failover = new TrackerFailover(init)
    this.handshake = new ChannelHandshake(components, {
      trackerIds: init.trackerIds,
      enrollment: init.enrollment,
      version: init.version,
    })
    this.events = events
  }

  /** Is the channel up and authenticated? */
  get connected(): boolean {
    return this.ready
  }

  /** The current connection's socket. */
  get socket(): WebSocket | undefined {
    return this.ws
  }

  /**
   * Lets the channel connect. The agent calls it before the executor resumes: a `stop()`
   * meanwhile keeps the channel from connecting.
   */
  start(): void {
    this.stopped = false
  }

  /** Connects no more: the reconnect and the connection's timers are cancelled. */
  stop(): void {
    this.stopped = true
    clearTimeout(this.reconnectTimer)
    clearTimeout(this.silenceTimer)
    clearTimeout(this.handshakeTimer)
    clearTimeout(this.recoveryTimer)
  }

  /** Resolves once the frames received so far are handled. */
  received(): Promise<void> {
    return this.receiving.catch(() => {})
  }

  /** Dials the current tracker address; on close, the next one after a backoff. */
  connect(): void {
    if (this.stopped) return
    const url = this.failover.url
    const ws = new WebSocket(url, CHANNEL_PROTOCOL, { maxPayload: MAX_FRAME_BYTES, perMessageDeflate: false })
    this.ws = ws
    // A tracker that accepts the TCP connection but never upgrades it, or never welcomes the
    // node, held it there for ever: the next address was never tried.
    clearTimeout(this.handshakeTimer)
    this.handshakeTimer = setTimeout(() => {
      log.error('no welcome from %s within %d ms: trying the next address', url, this.init.handshakeTimeoutMs)
      ws.terminate()
    }, this.init.handshakeTimeoutMs)
    const heard = (): void => {
      clearTimeout(this.silenceTimer)
      this.silenceTimer = setTimeout(() => {
        log('no frame or ping from %s for %d ms: reconnecting', url, this.init.silenceTimeoutMs)
        ws.terminate()
      }, this.init.silenceTimeoutMs)
    }
    ws.on('open', heard)
    ws.on('ping', heard)
    ws.on('message', (data, isBinary) => {
      heard()
      const text = isBinary ? undefined : data.toString()
      const frame = text === undefined ? undefined : parseServerFrame(text)
      if (frame === undefined) {
        log.error(
          'bad frame from %s, dropping the connection: %s',
          url,
          text === undefined ? 'binary frame' : JSON.stringify(text.slice(0, 200)),
        )
        ws.terminate()
        return
      }
      // frames are handled strictly in order: a receipt is on disk before the next frame
      this.receiving = this.receiving
        .then(() => this.onFrame(ws, url, frame))
        .catch((err) => {
          log.error('frame handling failed: %e', err)
          ws.terminate()
        })
    })
    ws.on('error', (err) => {
      if ((err as { code?: string }).code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH')
        log.error('frame from %s larger than %d bytes, dropping the connection', url, MAX_FRAME_BYTES)
      else log('channel %s error: %s', url, err.message)
    })
    ws.on('close', (code, reason) => {
      if (this.ws === ws) {
        clearTimeout(this.silenceTimer)
        clearTimeout(this.handshakeTimer)
        clearTimeout(this.recoveryTimer)
        this.progress.clear()
      }
      const wasReady = this.ready && this.ws === ws
      if (this.ws === ws) this.ready = false
      if (wasReady) this.events.disconnected({ url, code, reason: reason.toString() })
      if (code === CLOSE_CODES.replaced)
        log.error(
          "%s: another connection with this node's key replaced this one (the same key on two machines?)",
          url,
        )
      if (this.stopped || this.ws !== ws) return
      const delayMs = this.failover.closed(wasReady ? Date.now() - this.readyAt : undefined)
      this.reconnectTimer = setTimeout(() => this.connect(), delayMs)
    })
  }

  /**
   * Sends a frame if the channel is up and authenticated; else it is dropped. Returns
   * whether it was written or held (progress); a health report is not written past the
   * high-water mark: it is best effort, and never waits in the socket's buffer.
   */
  send(frame: NodeFrame): boolean {
    const ws = this.ws
    if (ws === undefined || !this.ready || ws.readyState !== WebSocket.OPEN) return false
    // progress is coalesced while the socket is backed up (`progress-coalescer.ts`)
    if (frame.t === 'progress') {
      this.progress.offer(frame, ws.bufferedAmount, (f) => this.write(ws, f))
      return true
    }
    if (frame.t === 'health' && ws.bufferedAmount > PROGRESS_HIGH_WATER_BYTES) return false
    if (frame.t === 'outcome') this.progress.drop(frame.id)
    this.write(ws, frame)
    return true
  }

  /** Writes a frame; each one the socket takes lets held progress go. */
  private write(ws: WebSocket, frame: NodeFrame): void {
    ws.send(JSON.stringify(frame), (err) => {
      if (!err && ws === this.ws) this.progress.drained(ws.bufferedAmount, (f) => this.write(ws, f))
    })
  }

  private async onFrame(ws: WebSocket, url: string, f: ServerFrame | UnknownServerFrame): Promise<void> {
    if (ws !== this.ws) return
    switch (f.t) {
      case 'challenge': {
        const answer = await this.handshake.challenge(ws, f)
        if (!('hello' in answer)) return this.refuseTracker(ws, url, answer.code, answer.message)
        ws.send(JSON.stringify(answer.hello))
        return
      }
      case 'welcome': {
        const refusal = await this.handshake.welcome(ws, f)
        if (refusal !== undefined) return this.refuseTracker(ws, url, refusal.code, refusal.message)
        await this.journal.markEnrolled()
        clearTimeout(this.handshakeTimer)
        this.ready = true
        this.readyAt = Date.now()
        this.welcomed(ws)
        log('connected to %s as %s', url, f.nodeId)
        this.events.connected({ url, nodeId: f.nodeId, features: f.features })
        if (f.membership !== undefined) this.onMembership(ws, url, f.membership)
        return
      }
      case 'membership':
        if (!this.ready) {
          log.error('membership statement from %s before welcome: ignored', url)
          return
        }
        this.onMembership(ws, url, f.membership)
        return
      case 'unknown':
        // A frame type a newer tracker sends: ignored once welcomed (forward compatibility;
        // a tracker sends new types only to nodes whose hello named the feature). Before the
        // welcome nothing but the handshake is taken.
        if (!this.ready) {
          log.error('frame of unknown type %s from %s before welcome, dropping the connection', f.type, url)
          ws.terminate()
          return
        }
        log('frame of unknown type %s from %s: ignored', f.type, url)
        return
      case 'error':
        log.error('tracker %s refused: %s %s', url, f.code, f.message)
        // the tracker lost or deleted this node's binding: enroll again on the next hello
        if (f.code === 'ERR_NOT_ENROLLED') await this.journal.markEnrolled(false)
        this.events.refused({ code: f.code, message: f.message })
        return
      case 'cmd':
        // Commands are only taken once the tracker welcomed this node on this connection.
        if (!this.ready) {
          log.error('command %s from %s before welcome: ignored', f.cmd.id, url)
          return
        }
        // ...and only commands the tracker signed for this node: nothing injected into the
        // connection, or meant for another node, is executed
        if (!this.handshake.signedCommand(ws, f))
          return this.refuseTracker(
            ws,
            url,
            'ERR_TRACKER_BAD_SIGNATURE',
            `command ${f.cmd.id} is not signed by the tracker`,
          )
        return this.events.command(f.cmd)
    }
  }

  /**
   * A statement of this node's campus membership: believed only if the tracker of this
   * connection (the key that signed its welcome) signed it, about this node's PeerId, and it
   * is in date. One that is not is logged and ignored: the connection and its commands go on.
   */
  private onMembership(ws: WebSocket, url: string, value: unknown): void {
    const checked = this.handshake.membership(ws, value)
    if (checked === undefined) return
    if (!checked.ok) {
      log.error('membership statement from %s not believed (%s): ignored', url, checked.why)
      return
    }
    log('membership from %s: campus %s, city %s', url, checked.membership.campus, checked.membership.city)
    this.events.membership(checked.signed)
  }

  /** Drops a connection to a tracker that failed to prove itself (the reconnect loop goes on). */
  private refuseTracker(ws: WebSocket, url: string, code: string, message: string): void {
    log.error('refusing tracker %s: %s', url, message)
    this.events.refused({ code, message })
    ws.terminate()
  }

  /**
   * A connection was welcomed. While the journal recovers from damage, the recovery ends
   * once a connection has stayed up `reconnectMaxMs` and the frames received until then are
   * handled: the tracker replays everything it may send again right after the welcome.
   */
  private welcomed(ws: WebSocket): void {
    if (this.journal.recovery === undefined) return
    clearTimeout(this.recoveryTimer)
    this.recoveryTimer = setTimeout(() => {
      this.receiving = this.receiving
        .then(async () => {
          if (ws === this.ws && this.ready && !this.stopped) await this.journal.endRecovery()
        })
        // still recovering: tried again at the next connection
        .catch((err) => log.error('ending the journal recovery failed: %e', err))
    }, this.init.reconnectMaxMs)
  }
}
