/**
 * What playback answers when a read fails because the node cannot store the chunks it
 * needs: its quota is full of content it must keep (pinned, placed, played, or a campus
 * node's, which evicts nothing), or the disk under its store is full. The swarm fails its
 * readers with the store's refusal (`StoreWriteError`, the cause inside) or, for content
 * larger than the whole quota, with a `QuotaExceededError`. That error used to be rethrown
 * to fastify, and the player and the operator got a 500 "Internal Server Error",
 * which reads like a fault of the node, for what is a lack of room with a known fix.
 */

/** An HTTP answer: 507 and a JSON body with a stable `error` name. */
export interface RefusalAnswer {
  status: 507
  body: { error: string; code?: string; message: string }
}

/** What {@link storeRefusal} reads of an error (matched by `name`, never by message). */
interface NamedError {
  name?: string
  code?: string
  message?: string
  cause?: unknown
}

/** The causes that mean "no room": the quota's, or the disk's (`store/disk-full.ts`). */
const NO_ROOM = new Set(['QuotaExceededError', 'DiskFullError'])

/**
 * The answer to a read that failed with `err` before any byte was sent, when `err` says
 * the node has no room to store the content: 507 Insufficient Storage, "the server is
 * unable to store the representation needed to complete the request" (RFC 4918 §11.5),
 * as for a range larger than the whole quota (`range-room.ts`). `error` and `code` are
 * the cause's (`QuotaExceededError`, or `DiskFullError` with `ENOSPC` / `EDQUOT`); the
 * message is the store refusal's, which says what frees room. `undefined` for any other
 * failure.
 */
export function storeRefusal(err: unknown): RefusalAnswer | undefined {
  const e = err as NamedError | undefined
  if (e === undefined || e === null) return undefined
  const cause = e.name === 'StoreWriteError' ? (e.cause as NamedError | undefined) : e
  if (cause?.name === undefined || !NO_ROOM.has(cause.name)) return undefined
  return {
    status: 507,
    body: { error: cause.name, code: cause.code, message: e.message ?? cause.message ?? cause.name },
  }
}
