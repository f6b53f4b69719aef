/**
 * A message over the 64 KiB a client may send (`MAX_MESSAGE_BYTES`) used to hit the WebSocket's
 * own `maxPayload` of the same size first: the server closed the socket with 1009 and sent no
 * error, and the client reconnected as after a network drop, its request lost. The socket now
 * takes frames up to twice that, so the schema's size check answers a message over the limit
 * with an `error` and the connection stays up; a frame beyond it still closes (1009). The Node
 * client refuses to send such a message at all.
 */
import { afterEach, describe, expect, it } from 'vitest'
import type WebSocket from 'ws'
import { MAX_MESSAGE_BYTES } from '../../../rtc/constants.ts'
import type { SignalingClient } from '../../../rtc/signaling/client.ts'
import { type Harness, spawn } from './harness.ts'

let h: Harness | undefined
afterEach(async () => {
  await h?.teardown()
  h = undefined
})

/** The client's socket, to send frames it would not send itself. */
function socketOf(c: SignalingClient): WebSocket {
  return (c as unknown as { socket: WebSocket }).socket
}

/** A publish offer whose JSON text is about `bytes` long. */
function publishOf(bytes: number): string {
  return JSON.stringify({ type: 'publish', sdp: 'a'.repeat(bytes) })
}

describe('a message over the size limit', () => {
  it('is answered with an error and the connection stays up; a huge frame closes it', async () => {
    h = await spawn()
    const t = await h.join('t', 'teacher')
    const closes: number[] = []
    t.on('closed', ({ code }) => closes.push(code))
    const socket = socketOf(t)
    const signal = AbortSignal.timeout(3_000)
    const refused = t.next('error', { signal })
    t.on('error', () => {})
    socket.send(publishOf(MAX_MESSAGE_BYTES + 1024))
    expect(await refused).toMatchObject({ code: 'ERR_MALFORMED_MESSAGE', message: 'message too large' })
    t.send({ type: 'ping' })
    await t.next('pong', { signal })
    expect(closes).toEqual([])
    expect(socketOf(t)).toBe(socket)
    // a frame far beyond any legal message is not read at all (RFC 6455 §7.4.1: 1009 "too big")
    const closed = new Promise<number>((r) => t.once('closed', ({ code }) => r(code)))
    socket.send(publishOf(4 * MAX_MESSAGE_BYTES))
    expect(await closed).toBe(1009)
  })

  it('is not sent by the Node client, which stays connected', async () => {
    h = await spawn()
    const t = await h.join('t', 'teacher')
    const closes: number[] = []
    t.on('closed', ({ code }) => closes.push(code))
    const socket = socketOf(t)
    expect(() => t.send({ type: 'publish', sdp: 'a'.repeat(MAX_MESSAGE_BYTES) })).toThrow(
      expect.objectContaining({ code: 'ERR_MALFORMED_MESSAGE' }),
    )
    t.send({ type: 'ping' })
    await t.next('pong', { signal: AbortSignal.timeout(3_000) })
    expect(closes).toEqual([])
    expect(socketOf(t)).toBe(socket)
  })
})
