/**
 * The STUN/TURN servers told to a session's client: in its `welcome`, with TURN credentials
 * minted for its user where the server has the TURN secret (`turn-credentials.ts`), and again,
 * minted afresh, in an `ice-servers` message every `iceRefreshMs` (half their lifetime), so
 * that a lamp connected for days still makes its next call's connections with credentials the
 * TURN server takes. A client away at that moment gets new ones in its resume's welcome.
 */
import type { IceServer } from '../ice-servers.ts'
import { isMintedTurnServer, withTurnCredentials } from '../turn-credentials.ts'
import type { ServerMessage } from './messages.ts'
import { type Session, sendRaw } from './room-hub.ts'
import type { SignalingInit } from './server-types.ts'

/** Options of {@link IceServersOfSessions}. */
export type IceServersInit = Pick<SignalingInit, 'iceServers' | 'turn' | 'iceRefreshMs'>

/** The servers of each session's client, and their refresh. */
export class IceServersOfSessions {
  private readonly init: IceServersInit
  /** Whether clients are sent new credentials: a TURN secret, and a TURN server to mint for. */
  private readonly refreshes: boolean
  private stopped = false

  constructor(init: IceServersInit) {
    this.init = init
    this.refreshes = init.turn !== undefined && (init.iceServers ?? []).some(isMintedTurnServer)
  }

  /** The servers for `user`'s client now (copies; credentials minted where due). */
  of(user: string): IceServer[] {
    return withTurnCredentials(this.init.iceServers ?? [], this.init.turn, user)
  }

  /** (Re)starts `session`'s refresh, from now: call as its client is welcomed. */
  arm(session: Session): void {
    const { turn } = this.init
    if (!this.refreshes || turn === undefined || this.stopped) return
    clearTimeout(session.iceRefresh)
    session.iceRefresh = setTimeout(
      () => {
        if (session.socket !== null) {
          const message: ServerMessage = { type: 'ice-servers', iceServers: this.of(session.user) }
          sendRaw(session.socket, JSON.stringify(message))
        }
        this.arm(session)
      },
      this.init.iceRefreshMs ?? (turn.ttlSeconds * 1000) / 2,
    )
    session.iceRefresh.unref()
  }

  /** `session` left: no more refreshes. */
  disarm(session: Session): void {
    clearTimeout(session.iceRefresh)
    session.iceRefresh = undefined
  }

  /** The server is closing: nothing is armed from now on. */
  stop(): void {
    this.stopped = true
  }
}
