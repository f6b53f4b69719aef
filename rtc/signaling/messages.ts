/** Wire messages of the signaling protocol (JSON over WebSocket). */
import type { Role } from '../auth/token.ts'
import type { IceServer } from '../ice-servers.ts'
import type { RoomLimits } from '../room/reducer.ts'
import type { RoomEvent, RoomState } from '../room/types.ts'

/** A device control a teacher sends to a lamp. `capture-photo` makes the lamp upload a photo and answer with its URL. */
export type DeviceCommand =
  | { kind: 'capture-photo' }
  | { kind: 'screen'; screen: 'whiteboard' | 'video' }
  | { kind: 'camera'; camera: 'face' | 'desk' }
  | { kind: 'mute'; muted: boolean }

/**
 * What a lamp needs to upload the photo of one `capture-photo` control: the origin, the
 * resource name and an upload grant for that name only (`node/upload-grant.ts`), so the lamp
 * holds no token that could publish anything else.
 */
export interface PhotoUploadOffer {
  /** Origin base URL. */
  origin: string
  /** The resource name the grant permits. */
  name: string
  /** The upload grant: the bearer for this upload. */
  grant: string
  /** Largest photo the grant allows, bytes. */
  maxBytes: number
}

/** Room actions a client may take; the server adds `by` and `at`. */
export type ActionName =
  | 'call.initiate'
  | 'call.ringing'
  | 'call.accept'
  | 'call.reject'
  | 'call.cancel'
  | 'call.connected'
  | 'call.end'
  | 'hand.raise'
  | 'hand.lower'
  | 'hand.accept'
  | 'hand.dismiss'
  | 'stage.invite'
  | 'stage.remove'

/**
 * Messages a client sends. Any may carry a request id `rid` (1–64 of `A-Za-z0-9_.:-`): the server
 * echoes it in the `error` that refuses the message, and in the `publish-answer` of a `publish`,
 * so a client waiting for one answer tells its own refusal from that of another request.
 */
export type ClientMessage = ClientRequest & { rid?: string }

/** {@link ClientMessage} without its request id. */
export type ClientRequest =
  | { type: 'hello'; token: string; resume?: { session: string; seq: number } }
  | { type: 'action'; action: ActionName; callId?: string; callee?: string; user?: string }
  | { type: 'control'; id: string; target: string; command: DeviceCommand }
  | { type: 'control-ack'; id: string; ok: boolean; result?: { url?: string }; error?: string }
  /** A lamp still running control `id` (it got a retransmission): stop resending, wait longer. */
  | { type: 'control-progress'; id: string }
  | { type: 'publish'; sdp: string }
  | { type: 'subscribe' }
  | { type: 'subscribe-answer'; sdp: string }
  | { type: 'ping' }

/** Messages the server sends. */
export type ServerMessage =
  | {
      type: 'welcome'
      session: string
      user: string
      role: Role
      /** Sequence number of the last room event included in `state`. */
      seq: number
      state: RoomState
      /** Origin base URL for uploads, when configured. */
      origin?: string
      /**
       * STUN/TURN servers to create peer connections with (`RTCPeerConnection({ iceServers })`),
       * the SFU's own; empty on a LAN. Sent only here, after a valid hello: TURN credentials.
       */
      iceServers: IceServer[]
      resumed: boolean
      /**
       * The limits the server's reducer runs with: a client applies the room's events with
       * the same ones, or its copy drifts (hand and ring timeouts, room caps).
       */
      limits: RoomLimits
    }
  | { type: 'event'; seq: number; event: RoomEvent }
  /**
   * New STUN/TURN servers for the connections made from now on: the welcome's, with TURN
   * credentials minted afresh before those expire (`turn-credentials.ts`). Connections already
   * made keep theirs. Sent only to a client that was welcomed.
   */
  | { type: 'ice-servers'; iceServers: IceServer[] }
  | { type: 'control'; id: string; from: string; command: DeviceCommand; upload?: PhotoUploadOffer }
  | { type: 'control-ack'; id: string; ok: boolean; result?: { url?: string }; error?: string }
  /** The lamp is running control `id`: its ACK comes when it is done. */
  | { type: 'control-progress'; id: string }
  /** `rid`: the request id of the `publish` it answers, if it had one. */
  | { type: 'publish-answer'; sdp: string; rid?: string }
  | { type: 'subscribe-offer'; sdp: string }
  /**
   * A refusal. `rid`: the request id of the message refused, if it had one that could be read
   * (not for a message over the size limit, which is not parsed).
   */
  | { type: 'error'; code: string; message: string; rid?: string }
  | { type: 'pong' }
