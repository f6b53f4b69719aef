/**
 * STUN and TURN servers (`--ice-server`, `DANDELION_RTC_ICE_SERVERS`, config `iceServers`): the
 * SFU gathers its candidates with them, and every client is told them in its `welcome`, so lamps
 * and pages behind a school's NAT reach the SFU through the same relay.
 *
 * A flag value is either a URL with the TURN credentials in front of the host,
 * `stun:host[:port]` or `turn[s]:user:credential@host[:port][?transport=udp|tcp]` (user and
 * credential percent-encoded where they hold `:`, `@`, `%`, `,` or blanks), or one server as
 * JSON, the browser's `RTCIceServer`: `{"urls":"turn:host:3478","username":"u","credential":"c"}`.
 * The variable holds several, separated by blanks or commas, or a JSON array of objects.
 */
import { RTC_ENV } from './env.ts'
import { InvalidConfigError } from './errors.ts'

/** One STUN or TURN server, as `RTCPeerConnection` takes it (RFC 7064 / 7065 URLs). */
export interface IceServer {
  urls: string | string[]
  /** TURN only, required there unless minted from the TURN secret (`turn-credentials.ts`). */
  username?: string
  /** TURN only, with `username`. */
  credential?: string
}

/** How an operator sets the servers, for error messages. */
export const ICE_SERVERS_SETTING = `--ice-server or ${RTC_ENV.iceServers}`

/**
 * A STUN or TURN URL without credentials (RFC 7064 §3.1, RFC 7065 §3.1): `stun:host[:port]`,
 * `turn[s]:host[:port][?transport=udp|tcp]`, the host a name, an IPv4 address or `[IPv6]`.
 */
const URL_RE =
  /^(stun|turns?):(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?)(?::(\d{1,5}))?(?:\?transport=(udp|tcp))?$/

/** JSON schema of one server (the config's `iceServers` items); the meaning is checked by {@link checkIceServers}. */
export const ICE_SERVER_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['urls'],
  properties: {
    urls: {
      anyOf: [
        { type: 'string', minLength: 1, maxLength: 300 },
        { type: 'array', minItems: 1, maxItems: 4, items: { type: 'string', minLength: 1, maxLength: 300 } },
      ],
    },
    username: { type: 'string', minLength: 1, maxLength: 256 },
    credential: { type: 'string', minLength: 1, maxLength: 256 },
  },
} as const

/**
 * Why `servers` (already of the schema's shape) cannot be used, or undefined. Never quotes a
 * credential: the reason is printed and may be logged.
 */
export function checkIceServers(
  servers: readonly IceServer[],
  options: { minted?: boolean } = {},
): string | undefined {
  for (const [i, server] of servers.entries()) {
    const urls = typeof server.urls === 'string' ? [server.urls] : server.urls
    let turn = false
    for (const url of urls) {
      if (url.startsWith('stuns:'))
        return `iceServers/${i}: stuns: is not supported (werift would speak plain STUN), use stun: or turns:`
      const m = URL_RE.exec(url)
      if (m === null) {
        // credentials put in the URL itself are not repeated in a message that may be logged
        const shown = url.slice(0, 120).replace(/^([A-Za-z]+:)[^@]*@/, '$1…@')
        return `iceServers/${i}: ${JSON.stringify(shown)} is not stun:host[:port] or turn[s]:host[:port][?transport=udp|tcp] (in JSON, TURN credentials go in username and credential)`
      }
      const [, scheme, , port, transport] = m
      if (port !== undefined && (Number(port) < 1 || Number(port) > 65535))
        return `iceServers/${i}: port ${port} is out of range`
      if (scheme === 'stun' && transport !== undefined) return `iceServers/${i}: stun: takes no ?transport`
      // RFC 7065 §3.1: turns over UDP would be DTLS, which neither werift nor browsers speak
      if (scheme === 'turns' && transport === 'udp') return `iceServers/${i}: turns: runs over tcp only`
      if (scheme !== 'stun') turn = true
    }
    if (turn && (server.username === undefined) !== (server.credential === undefined))
      return `iceServers/${i}: a turn: server needs both a username and a credential, or neither with --turn-secret`
    if (turn && server.username === undefined && options.minted !== true)
      return `iceServers/${i}: a turn: server needs a username and a credential, or --turn-secret (${RTC_ENV.turnSecret}: the TURN server's shared secret) to mint them per client`
    if (!turn && (server.username !== undefined || server.credential !== undefined))
      return `iceServers/${i}: a username and credential belong to turn: servers only`
  }
  return undefined
}

/**
 * One `--ice-server` value: a URL, with `user:credential@` before the host of a TURN server,
 * or an {@link IceServer} as JSON. Throws {@link InvalidConfigError} naming the flag; the
 * result is checked with the rest of the config.
 */
export function parseIceServerArg(text: string, setting = '--ice-server'): IceServer {
  const value = text.trim()
  if (value.startsWith('{')) {
    let parsed: unknown
    try {
      parsed = JSON.parse(value)
    } catch {
      throw new InvalidConfigError(`${setting}: not valid JSON (an RTCIceServer object was expected)`)
    }
    return parsed as IceServer
  }
  const scheme = /^([a-z]+):/.exec(value)?.[1]
  if (scheme === undefined)
    throw new InvalidConfigError(`${setting}: expected stun:host[:port] or turn:user:credential@host[:port]`)
  const rest = value.slice(scheme.length + 1)
  const at = rest.lastIndexOf('@')
  if (at < 0) return { urls: value }
  // user:credential@host — the credential is everything after the user's first colon
  const userinfo = rest.slice(0, at)
  const colon = userinfo.indexOf(':')
  if (colon <= 0 || colon === userinfo.length - 1)
    throw new InvalidConfigError(`${setting}: TURN credentials go as ${scheme}:user:credential@host[:port]`)
  try {
    return {
      urls: `${scheme}:${rest.slice(at + 1)}`,
      username: decodeURIComponent(userinfo.slice(0, colon)),
      credential: decodeURIComponent(userinfo.slice(colon + 1)),
    }
  } catch {
    throw new InvalidConfigError(`${setting}: bad percent-encoding in the TURN user or credential`)
  }
}

/** `DANDELION_RTC_ICE_SERVERS`: a JSON array of servers, or flag values separated by blanks or commas. */
export function iceServersFromEnv(text: string | undefined): IceServer[] | undefined {
  if (text === undefined || text.trim() === '') return undefined
  const setting = RTC_ENV.iceServers
  if (text.trim().startsWith('[')) {
    try {
      return JSON.parse(text) as IceServer[]
    } catch {
      throw new InvalidConfigError(
        `${setting}: not valid JSON (an array of RTCIceServer objects was expected)`,
      )
    }
  }
  return text
    .split(/[\s,]+/)
    .filter((s) => s !== '')
    .map((s) => parseIceServerArg(s, setting))
}
