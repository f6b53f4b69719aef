/**
 * What the channel server does to its sockets: send a frame, close a channel without waiting
 * on a dead peer, ping them and drop those that missed the last ping, and refuse an upgrade
 * to another path.
 */
import type { Duplex } from 'node:stream'
import type { WebSocket } from 'ws'
import type { ServerFrame } from '../../node/agent/protocol.ts'
import { CLOSE_GRACE_MS } from '../constants.ts'
import type { Session } from './server-types.ts'

/**
 * Closes a channel with `code`, and drops it if its peer has not answered the close within
 * {@link CLOSE_GRACE_MS}. ws waits 30 s for that answer: a dead link or a frozen peer held
 * each closing channel that long, counted meanwhile among the handshakes in progress
 * (`maxPendingHandshakes`), so a wave of reconnects onto dead links turned live nodes away
 * as busy, and a stopping tracker waited on it with its data directory locked.
 */
export function closeChannel(ws: WebSocket, code: number, reason: string): void {
  // closing already: the first close set its own grace
  if (ws.readyState === ws.CLOSING || ws.readyState === ws.CLOSED) return
  ws.close(code, reason)
  const grace = setTimeout(() => ws.terminate(), CLOSE_GRACE_MS)
  grace.unref()
  ws.once('close', () => clearTimeout(grace))
}

/** Sends `frame` on `s` if its socket is open (one closing drops it: the replay resends). */
export function sendFrame(s: Session, frame: ServerFrame): void {
  if (s.ws.readyState === s.ws.OPEN) s.ws.send(JSON.stringify(frame))
}

/** Path of a request target; undefined when it does not parse (`new URL('//', base)` throws). */
export function pathOf(url = '/'): string | undefined {
  try {
    return new URL(url, 'http://x').pathname
  } catch {
    return undefined
  }
}

/**
 * Answers 404 to a WebSocket upgrade of another path than the channel's and closes its
 * socket. Node hands the socket of an upgrade to its listeners and no longer times it out or
 * closes it: one left alone stays open for ever. The server is half-open, so `end` alone
 * would wait for the client; destroy once the answer is flushed.
 */
export function refuseUpgrade(socket: Duplex): void {
  socket.on('error', () => socket.destroy())
  socket.once('finish', () => socket.destroy())
  socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n')
}

/** The heartbeat: drops each channel that did not answer the last ping, pings the others. */
export function ping(sessions: Iterable<Session>): void {
  for (const s of sessions) {
    if (!s.alive) {
      s.ws.terminate()
      continue
    }
    s.alive = false
    s.ws.ping()
  }
}
