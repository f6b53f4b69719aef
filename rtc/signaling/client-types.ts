/**
 * Public types of the Node signaling client (`client.ts`): its events and its options. The parts
 * of the client (`client-controls.ts`, `client-reconnect.ts`) each take the options they use.
 */
import type { Logger } from '@libp2p/logger'
import type { RtcError } from '../errors.ts'
import type { RoomEvent } from '../room/types.ts'
import type { ControlHandler } from './client-controls.ts'
import type { ServerMessage } from './messages.ts'

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
  /** First reconnect delay; doubles after each failed attempt. @default `RECONNECT_INITIAL_MS` */
  reconnectInitialMs?: number
  /** @default `RECONNECT_MAX_MS` */
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
