/**
 * Waiting on a Node signaling client (`client.ts`): for the answer to a request id, for the next
 * server message of a type, or for the room state to match. Message waits listen to the client's
 * `message` event, so they span reconnects: the server sends an answer to the user's current
 * socket, and one bound to the socket of the request would miss an answer sent after a resume.
 */
import type { EventEmitter } from 'node:events'
import { RtcError } from '../errors.ts'
import type { RoomState } from '../room/types.ts'
import type { SignalingClientEvents } from './client-types.ts'
import type { ServerMessage } from './messages.ts'

/** What the waits read: the client's events and its local room state. */
export type WaitSource = Pick<EventEmitter<SignalingClientEvents>, 'on' | 'off'> & {
  readonly state: RoomState | undefined
}

/** How a message wait ends on one message: with a value, an error, or not yet (`undefined`). */
export type Settle<R> = (msg: ServerMessage) => { value: R } | { error: Error } | undefined

/** The answer of type `type` to request `rid`, or its error: see `SignalingClient.reply`. */
export function waitReply<T extends ServerMessage['type']>(
  source: WaitSource,
  rid: string,
  type: T,
  signal?: AbortSignal,
): Promise<Extract<ServerMessage, { type: T }>> {
  return firstMessage<Extract<ServerMessage, { type: T }>>(
    source,
    (msg) => {
      const to = (msg as { rid?: unknown }).rid
      if (msg.type === 'error' && to === rid) return { error: new RtcError(msg.message, msg.code) }
      if (msg.type === type && (to === rid || to === undefined))
        return { value: msg as Extract<ServerMessage, { type: T }> }
      return undefined
    },
    signal,
  )
}

/** The next server message of `type`: see `SignalingClient.next`. */
export function waitNext<T extends ServerMessage['type']>(
  source: WaitSource,
  type: T,
  signal?: AbortSignal,
): Promise<Extract<ServerMessage, { type: T }>> {
  return firstMessage(
    source,
    (msg) => (msg.type === type ? { value: msg as Extract<ServerMessage, { type: T }> } : undefined),
    signal,
  )
}

/**
 * The first server message `settle` decides on, on this socket or the next one: resolves
 * with its `value` or rejects with its `error`; the others are passed over. Abort `signal`
 * to stop waiting.
 */
export function firstMessage<R>(source: WaitSource, settle: Settle<R>, signal?: AbortSignal): Promise<R> {
  if (signal?.aborted === true) return Promise.reject(signal.reason)
  return new Promise((resolve, reject) => {
    const stop = (): void => {
      source.off('message', onMessage)
      signal?.removeEventListener('abort', onAbort)
    }
    const onAbort = (): void => {
      stop()
      reject(signal?.reason)
    }
    const onMessage = (msg: ServerMessage): void => {
      const out = settle(msg)
      if (out === undefined) return
      stop()
      if ('error' in out) reject(out.error)
      else resolve(out.value)
    }
    signal?.addEventListener('abort', onAbort, { once: true })
    source.on('message', onMessage)
  })
}

/** The room state once `pred` holds (at once if it already does): see `SignalingClient.waitFor`. */
export function waitState(
  source: WaitSource,
  pred: (state: RoomState) => boolean,
  signal?: AbortSignal,
): Promise<RoomState> {
  if (source.state !== undefined && pred(source.state)) return Promise.resolve(source.state)
  if (signal?.aborted === true) return Promise.reject(signal.reason)
  return new Promise((resolve, reject) => {
    const stop = (): void => {
      source.off('event', check)
      source.off('welcome', check)
      signal?.removeEventListener('abort', onAbort)
    }
    const check = (): void => {
      if (source.state !== undefined && pred(source.state)) {
        stop()
        resolve(source.state)
      }
    }
    const onAbort = (): void => {
      stop()
      reject(signal?.reason)
    }
    signal?.addEventListener('abort', onAbort, { once: true })
    source.on('event', check)
    source.on('welcome', check)
  })
}
