/**
 * Time-limited TURN credentials, as a TURN server with a shared secret checks them (the "TURN
 * REST API" of draft-uberti-behave-turn-rest-00; coturn's `use-auth-secret` with
 * `static-auth-secret`): the username is `<expiry, Unix seconds>:<user>`, the password the
 * base64 of HMAC-SHA1(secret, username). The TURN server needs no list of users and refuses a
 * username whose time has passed, so credentials handed to one lamp are that lamp's, for a
 * while, instead of one static pair every client of the server holds for ever.
 *
 * A TURN server configured without `username` and `credential` gets fresh ones minted for each
 * client at each `welcome` (its user), and again before they expire (`ice-servers`); the SFU
 * mints its own (user `sfu`) for each connection it makes.
 */
import { createHmac } from 'node:crypto'
import type { IceServer } from './ice-servers.ts'

/** The shared secret and how long minted credentials last. */
export interface TurnSecretInit {
  /** The TURN server's `static-auth-secret`. */
  secret: string
  /** Lifetime of minted credentials, in seconds. */
  ttlSeconds: number
}

/** The user the SFU's own connections are minted for. */
export const SFU_TURN_USER = 'sfu'

/** Whether `server` is a TURN server (its URLs `turn:` or `turns:`). */
export function isTurnServer(server: IceServer): boolean {
  const urls = typeof server.urls === 'string' ? [server.urls] : server.urls
  return urls.some((u) => u.startsWith('turn:') || u.startsWith('turns:'))
}

/** Whether `server` is a TURN server whose credentials are minted (none configured). */
export function isMintedTurnServer(server: IceServer): boolean {
  return isTurnServer(server) && server.username === undefined && server.credential === undefined
}

/** The credentials of `user` for `secret`, expiring at `expiresAtS` (Unix seconds). */
export function turnCredentials(
  secret: string,
  user: string,
  expiresAtS: number,
): { username: string; credential: string } {
  const username = `${expiresAtS}:${user}`
  return { username, credential: createHmac('sha1', secret).update(username).digest('base64') }
}

/**
 * `servers` for `user` at `now` (epoch ms): copies, in which each TURN server configured
 * without credentials carries credentials minted for `user` (none without `turn`). The
 * configured list is never changed.
 */
export function withTurnCredentials(
  servers: readonly IceServer[],
  turn: TurnSecretInit | undefined,
  user: string,
  now = Date.now(),
): IceServer[] {
  const minted =
    turn === undefined
      ? undefined
      : turnCredentials(turn.secret, user, Math.floor(now / 1000) + turn.ttlSeconds)
  return servers.map((s) => {
    const urls = typeof s.urls === 'string' ? s.urls : [...s.urls]
    if (minted !== undefined && isMintedTurnServer(s)) return { urls, ...minted }
    return { ...s, urls }
  })
}
