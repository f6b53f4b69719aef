/** The rtc daemon's configuration: validated against a schema that rejects unknown keys, then frozen. */
import { Ajv } from 'ajv'
import {
  DEFAULT_GRANT_KEY_FILE,
  DEFAULT_HOST,
  DEFAULT_PORT,
  MAX_ICE_SERVERS,
  MAX_PREVIOUS_SECRETS,
  MAX_TURN_CREDENTIAL_TTL_S,
  MIN_TURN_CREDENTIAL_TTL_S,
  PHOTO_MAX_BYTES,
  TURN_CREDENTIAL_TTL_S,
} from './constants.ts'
import { RTC_ENV } from './env.ts'
import { InvalidConfigError } from './errors.ts'
import { checkIceServers, ICE_SERVER_SCHEMA, ICE_SERVERS_SETTING, type IceServer } from './ice-servers.ts'
import { isMintedTurnServer } from './turn-credentials.ts'

/** Plain configuration of the rtc service. */
export interface RtcConfig {
  /** HMAC secret tokens are signed with; at least 16 characters. */
  secret: string
  /**
   * Secrets tokens were signed with before a rotation, still accepted (never used to sign);
   * each at least 16 characters, at most {@link MAX_PREVIOUS_SECRETS}. @default []
   */
  previousSecrets: string[]
  /** @default {@link DEFAULT_HOST} */
  host: string
  /** @default {@link DEFAULT_PORT} */
  port: number
  /** Origin base URL announced to lamps for photo uploads. */
  origin?: string
  /**
   * Key file the photo upload grants are signed with (created on first start); the origin
   * trusts its id (`--grant-issuer`). Used with `origin`. @default {@link DEFAULT_GRANT_KEY_FILE}
   */
  grantKeyFile: string
  /** Largest homework photo a grant allows. @default {@link PHOTO_MAX_BYTES} */
  photoMaxBytes: number
  /** Worker threads holding subscriber connections (0: main thread). @default 0 */
  shards: number
  /** Extra ICE host addresses (the LAN address browsers reach the SFU on). */
  hostAddresses?: string[]
  /**
   * STUN/TURN servers the SFU gathers with and every client is told in its `welcome` (after a
   * valid hello only: they may hold TURN credentials). At most {@link MAX_ICE_SERVERS}. @default []
   */
  iceServers: IceServer[]
  /**
   * The TURN server's shared secret (coturn's `static-auth-secret`): each TURN server of
   * {@link iceServers} given without username and credential gets credentials minted per
   * client from it, lasting {@link turnTtlSeconds} (`turn-credentials.ts`). At least 16
   * characters.
   */
  turnSecret?: string
  /** Lifetime of minted TURN credentials, in seconds. @default {@link TURN_CREDENTIAL_TTL_S} */
  turnTtlSeconds: number
  /**
   * Bearer token of the operators' view of the live classes (`GET /api/rooms`); without it
   * those routes do not exist. At least 16 characters, not the token secret.
   */
  opsToken?: string
}

/** Secrets are validated alike, current or previous. */
const SECRET = { type: 'string', minLength: 16, maxLength: 512 }

/** How an operator sets each key, for error messages (the CLI and its environment variables). */
const SETTING_NAMES: Readonly<Record<string, string>> = {
  secret: `--secret or ${RTC_ENV.secret}`,
  previousSecrets: `--previous-secret or ${RTC_ENV.previousSecrets}`,
  host: '--host',
  port: '--port',
  origin: '--origin',
  grantKeyFile: '--grant-key-file',
  photoMaxBytes: '--photo-max-bytes',
  shards: '--shards',
  iceServers: ICE_SERVERS_SETTING,
  turnSecret: `--turn-secret or ${RTC_ENV.turnSecret}`,
  turnTtlSeconds: '--turn-ttl',
  opsToken: `--ops-token or ${RTC_ENV.opsToken}`,
}

const schema = {
  type: 'object',
  additionalProperties: false,
  required: ['secret'],
  properties: {
    secret: SECRET,
    previousSecrets: { type: 'array', maxItems: MAX_PREVIOUS_SECRETS, items: SECRET },
    host: { type: 'string', minLength: 1, maxLength: 255 },
    port: { type: 'integer', minimum: 0, maximum: 65535 },
    origin: { type: 'string', pattern: '^https?://[^\\s]+$', maxLength: 2048 },
    grantKeyFile: { type: 'string', minLength: 1, maxLength: 4096 },
    photoMaxBytes: { type: 'integer', minimum: 1, maximum: 1024 * 1024 * 1024 },
    shards: { type: 'integer', minimum: 0, maximum: 64 },
    hostAddresses: { type: 'array', maxItems: 16, items: { type: 'string', minLength: 1, maxLength: 64 } },
    iceServers: { type: 'array', maxItems: MAX_ICE_SERVERS, items: ICE_SERVER_SCHEMA },
    turnSecret: SECRET,
    opsToken: SECRET,
    turnTtlSeconds: {
      type: 'integer',
      minimum: MIN_TURN_CREDENTIAL_TTL_S,
      maximum: MAX_TURN_CREDENTIAL_TTL_S,
    },
  },
}

const validate = new Ajv({ allErrors: true, strict: true }).compile(schema)

/** Validates `input` and returns a normalised, frozen copy; throws {@link InvalidConfigError}. */
export function parseConfig(input: unknown): Readonly<RtcConfig> {
  if (!validate(input)) {
    const why = (validate.errors ?? [])
      .map((e) => `${e.instancePath || '/'} ${e.message}${settingOf(e.instancePath)}`)
      .join('; ')
    throw new InvalidConfigError(`invalid rtc config: ${why}`)
  }
  const c = input as Partial<RtcConfig> & { secret: string }
  const iceProblem = checkIceServers(c.iceServers ?? [], { minted: c.turnSecret !== undefined })
  if (iceProblem !== undefined)
    throw new InvalidConfigError(`invalid rtc config: /${iceProblem} (${ICE_SERVERS_SETTING})`)
  // a secret with nothing to mint for is a mistake (a TURN server still given static
  // credentials, or none at all), not a setting to ignore
  if (c.turnSecret !== undefined && !(c.iceServers ?? []).some(isMintedTurnServer))
    throw new InvalidConfigError(
      `invalid rtc config: /turnSecret is set (${SETTING_NAMES.turnSecret}) but no turn: server is given without credentials to mint them for: add one such as turn:host:3478 (${ICE_SERVERS_SETTING})`,
    )
  const out: RtcConfig = {
    secret: c.secret,
    // the current secret, or one given twice, adds nothing to what is accepted
    previousSecrets: [...new Set(c.previousSecrets ?? [])].filter((s) => s !== c.secret),
    host: c.host ?? DEFAULT_HOST,
    port: c.port ?? DEFAULT_PORT,
    shards: c.shards ?? 0,
    grantKeyFile: c.grantKeyFile ?? DEFAULT_GRANT_KEY_FILE,
    photoMaxBytes: c.photoMaxBytes ?? PHOTO_MAX_BYTES,
    // copies, frozen with the rest: the caller's objects stay theirs
    iceServers: Object.freeze((c.iceServers ?? []).map(copyIceServer)) as IceServer[],
    turnTtlSeconds: c.turnTtlSeconds ?? TURN_CREDENTIAL_TTL_S,
  }
  if (c.turnSecret !== undefined) out.turnSecret = c.turnSecret
  // the token secret signs users in: a token equal to it would let whoever reads rooms sign in
  if (c.opsToken !== undefined && (c.opsToken === c.secret || out.previousSecrets.includes(c.opsToken)))
    throw new InvalidConfigError(
      `invalid rtc config: /opsToken must differ from the token secrets (${SETTING_NAMES.opsToken})`,
    )
  if (c.opsToken !== undefined) out.opsToken = c.opsToken
  if (c.origin !== undefined) out.origin = c.origin.replace(/\/+$/, '')
  if (c.hostAddresses !== undefined) out.hostAddresses = [...c.hostAddresses]
  return Object.freeze(out)
}

/** A frozen copy of `server`. */
function copyIceServer(server: IceServer): IceServer {
  const out: IceServer = {
    urls: typeof server.urls === 'string' ? server.urls : (Object.freeze([...server.urls]) as string[]),
  }
  if (server.username !== undefined) out.username = server.username
  if (server.credential !== undefined) out.credential = server.credential
  return Object.freeze(out)
}

/** ` (--flag)` for the key an ajv instance path points into, or nothing. */
function settingOf(instancePath: string): string {
  const name = SETTING_NAMES[instancePath.split('/')[1] ?? '']
  return name === undefined ? '' : ` (${name})`
}
