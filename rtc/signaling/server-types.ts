/**
 * Public types of the signaling server: its live components, its options and the handle
 * {@link createSignalingServer} returns. The parts of the server each take the options they use.
 */
import type { Logger } from '@libp2p/logger'
import type { FastifyInstance } from 'fastify'
import type { UploadGrantIssuer } from '../../node/upload-grant.ts'
import type { IceServer } from '../ice-servers.ts'
import type { RtcProvider } from '../provider.ts'
import type { RoomLimits } from '../room/reducer.ts'
import type { TurnSecretInit } from '../turn-credentials.ts'
import type { RoomHub } from './room-hub.ts'

/** Live things the server uses. */
export interface SignalingComponents {
  /** @default a {@link NullProvider} (no media) */
  provider?: RtcProvider
  logger?: Logger
  /**
   * Signs the upload grant sent with each `capture-photo` control, so a lamp uploads its
   * photo without an origin token (with `origin` only). Without one, lamps upload with
   * whatever token they were configured with.
   */
  grants?: UploadGrantIssuer
}

/** Plain options of the signaling server. */
export interface SignalingInit {
  /** HMAC secret tokens are signed with (required). */
  secret: string
  /** Secrets of before a rotation: tokens they signed are still accepted. @default [] */
  previousSecrets?: readonly string[]
  /** @default '127.0.0.1' */
  host?: string
  /** 0 picks a free port. @default 0 */
  port?: number
  /** Origin base URL handed to lamps for photo uploads. */
  origin?: string
  /** Largest photo a grant allows. @default {@link PHOTO_MAX_BYTES} */
  photoMaxBytes?: number
  /**
   * STUN/TURN servers told to every client in its `welcome`, sent only after a valid `hello`
   * (TURN credentials are in them). Give the SFU the same ones. @default []
   */
  iceServers?: readonly IceServer[]
  /**
   * The TURN server's shared secret and the credentials' lifetime: each TURN server of
   * {@link iceServers} given without credentials is sent with credentials minted for the
   * client's user (`turn-credentials.ts`), in its welcome and again in `ice-servers` every
   * {@link iceRefreshMs}.
   */
  turn?: TurnSecretInit
  /** How often a client is sent new TURN credentials. @default half of `turn.ttlSeconds` */
  iceRefreshMs?: number
  /** Bearer token of `GET /api/rooms` (`ops-routes.ts`); none: those routes do not exist. */
  opsToken?: string
  /** @default {@link RESUME_GRACE_MS} */
  graceMs?: number
  /**
   * How long a dropped client is away before the room hears it is (`presence connected:false`);
   * 0 announces the drop at once. @default {@link PRESENCE_DELAY_MS}
   */
  presenceDelayMs?: number
  /** Device-control retransmit delay. */
  controlRetryMs?: number
  /** Device-control attempts. */
  controlMaxAttempts?: number
  /** How long a photo control the lamp said it is running may take. @default 15 min (`CONTROL_RUNNING_TIMEOUT_MS`) */
  controlRunningMs?: number
  /** Time allowed between connecting and `hello`. @default 5000 */
  helloTimeoutMs?: number
  /** Interval of the room clock (ring and hand timeouts). @default 1000 */
  tickMs?: number
  limits?: RoomLimits
}

/** A running signaling server. */
export interface SignalingServer {
  /** `http://host:port` */
  url: string
  app: FastifyInstance
  /** The live room `id`, for inspection. */
  room(id: string): RoomHub | undefined
  close(): Promise<void>
}
