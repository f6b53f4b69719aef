/**
 * How the server answers what it will not do. Either way the client gets an `error` message with
 * the error's code ({@link RtcError.code}, `ERR_INTERNAL` for anything else): a refused connection
 * is then closed with the code's {@link CLOSE_CODES} entry, a refused message keeps its connection.
 */
import type { WebSocket } from 'ws'
import { RtcError } from '../errors.ts'
import type { ServerMessage } from './messages.ts'
import { sendRaw } from './room-hub.ts'

/** WebSocket close codes, with the error code as reason text. */
export const CLOSE_CODES: Readonly<Record<string, number>> = {
  ERR_INVALID_TOKEN: 4401,
  ERR_FORBIDDEN: 4403,
  ERR_ROOM_FULL: 4409,
  ERR_MALFORMED_MESSAGE: 4400,
  ERR_RATE_LIMITED: 4429,
  ERR_SESSION_REPLACED: 4410,
}

/** The `error` message telling of `err`. */
function errorMessage(err: unknown): Extract<ServerMessage, { type: 'error' }> {
  const code = err instanceof RtcError ? err.code : 'ERR_INTERNAL'
  const message = err instanceof Error ? err.message : 'error'
  return { type: 'error', code, message }
}

/** Sends `err` and closes `socket` with its close code (4000 for one not listed). */
export function refuse(socket: WebSocket, err: unknown): void {
  const error = errorMessage(err)
  sendRaw(socket, JSON.stringify(error))
  socket.close(CLOSE_CODES[error.code] ?? 4000, `${error.code}: ${error.message}`.slice(0, 120))
}

/** Answers a refused message with an `error` naming its request id, if it had one. */
export function reply(socket: WebSocket, err: unknown, rid: string | undefined): void {
  const error = errorMessage(err)
  if (rid !== undefined) error.rid = rid
  sendRaw(socket, JSON.stringify(error))
}
