/**
 * Live tutoring: a WebSocket signaling server for classrooms (one-on-one lamp calls, groups of
 * up to 6, classes of up to 200 with a stage and a raise-hand queue) over a werift SFU.
 *
 * ```ts
 * const rtc = await createRtcServer({}, { secret: 'a-long-random-secret', port: 8443 })
 * const token = issueToken(secret, { sub: 'ms-lee', role: 'teacher', room: 'math-7b', kind: 'class' })
 * // browsers: `${rtc.url}/#token=${token}`; Node peers: new SignalingClient({ url: `${wsUrl}/ws`, token })
 * ```
 */
import { mkdir } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import type { Logger } from '@libp2p/logger'
import { loadOrCreateKey } from '../node/keys.ts'
import { UploadGrantIssuer } from '../node/upload-grant.ts'
import { parseConfig, type RtcConfig } from './config.ts'
import type { RtcProvider } from './provider.ts'
import { WeriftSfu } from './sfu/sfu.ts'
import { createSignalingServer, type SignalingServer } from './signaling/server.ts'

export { issueToken, type Role, type TokenClaims, verifyToken } from './auth/token.ts'
export { type Publication, publish, type Subscription, subscribe } from './client/media.ts'
export { parseConfig, type RtcConfig } from './config.ts'
export * from './errors.ts'
export type { IceServer } from './ice-servers.ts'
export { type LampUploadInit, lampControls, PhotoUploadError, uploadPhoto } from './photo/upload.ts'
export { NullProvider, type RtcProvider, type RtcProviderHandlers } from './provider.ts'
export { canPublish, createRoomState, reduce, viewFor } from './room/reducer.ts'
export type * from './room/types.ts'
export { type SfuStats, WeriftSfu, type WeriftSfuInit } from './sfu/sfu.ts'
export { type ControlHandler, type ControlResult, SignalingClient } from './signaling/client.ts'
export type { ClientMessage, DeviceCommand, PhotoUploadOffer, ServerMessage } from './signaling/messages.ts'

/** Live things the rtc server uses. */
export interface RtcServerComponents {
  /** Media backend. @default a {@link WeriftSfu} */
  provider?: RtcProvider
  logger?: Logger
}

/** A running rtc service. */
export interface RtcServer {
  /** `http://host:port`; the page is at `/`, the WebSocket at `/ws`. */
  url: string
  config: Readonly<RtcConfig>
  /** The PeerId photo upload grants are signed with (with `origin`): the origin's `--grant-issuer`. */
  grantIssuer?: string
  signaling: SignalingServer
  close(): Promise<void>
}

/** Validates `init` (unknown keys are refused) and starts signaling plus the SFU. */
export async function createRtcServer(components: RtcServerComponents, init: unknown): Promise<RtcServer> {
  const config = parseConfig(init)
  const turnInit =
    config.turnSecret === undefined
      ? undefined
      : { secret: config.turnSecret, ttlSeconds: config.turnTtlSeconds }
  const provider =
    components.provider ??
    new WeriftSfu(
      {},
      {
        shards: config.shards,
        hostAddresses: config.hostAddresses,
        iceServers: config.iceServers,
        turn: turnInit,
      },
    )
  // photo upload grants: only where lamps are told an origin to upload to
  let grants: UploadGrantIssuer | undefined
  if (config.origin !== undefined) {
    const keyFile = resolve(config.grantKeyFile)
    await mkdir(dirname(keyFile), { recursive: true })
    grants = new UploadGrantIssuer(await loadOrCreateKey(keyFile))
  }
  const signaling = await createSignalingServer(
    { provider, logger: components.logger, grants },
    {
      secret: config.secret,
      previousSecrets: config.previousSecrets,
      host: config.host,
      port: config.port,
      origin: config.origin,
      photoMaxBytes: config.photoMaxBytes,
      iceServers: config.iceServers,
      turn: turnInit,
      opsToken: config.opsToken,
    },
  )
  const server: RtcServer = { url: signaling.url, config, signaling, close: () => signaling.close() }
  if (grants !== undefined) server.grantIssuer = grants.id
  return server
}
