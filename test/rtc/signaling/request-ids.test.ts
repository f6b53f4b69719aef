/**
 * Server `error` messages used to carry no request id, so a client waiting for the answer to one
 * request took any error that came meanwhile as its own refusal. A request may now carry `rid`;
 * the server echoes it in the `error` that refuses it (and in `publish-answer`), and still sends
 * `code` and `message` as before, so clients that send no `rid` work as they did.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { NullProvider } from '../../../rtc/provider.ts'
import type { SignalingClient } from '../../../rtc/signaling/client.ts'
import type { ClientMessage, ServerMessage } from '../../../rtc/signaling/messages.ts'
import { type Harness, spawn } from './harness.ts'

let h: Harness | undefined
afterEach(async () => {
  await h?.teardown()
  h = undefined
})

/** Sends `msg` and resolves with the next `error` or `publish-answer` `c` receives (bounded). */
function reply(c: SignalingClient, msg: ClientMessage): Promise<ServerMessage> {
  const signal = AbortSignal.timeout(2_000)
  const answer = Promise.race([c.next('error', { signal }), c.next('publish-answer', { signal })])
  c.send(msg)
  return answer
}

/** A provider that answers every publish offer with a fixed description. */
class AnsweringProvider extends NullProvider {
  override async publish(): Promise<string> {
    return 'v=0'
  }
}

describe('request ids', () => {
  it('echoes the id of a refused action in its error', async () => {
    h = await spawn()
    const t = await h.join('t', 'teacher')
    t.on('error', () => {})
    expect(await reply(t, { type: 'action', action: 'hand.raise', rid: 'raise-1' })).toMatchObject({
      type: 'error',
      code: 'ERR_FORBIDDEN',
      rid: 'raise-1',
    })
    expect(
      await reply(t, { type: 'action', action: 'call.accept', callId: 'nope', rid: 'accept-1' }),
    ).toMatchObject({ type: 'error', code: 'ERR_INVALID_TRANSITION', rid: 'accept-1' })
    // a client that sends no id (one from before request ids) is answered as it always was
    expect(await reply(t, { type: 'action', action: 'hand.raise' })).toEqual({
      type: 'error',
      code: 'ERR_FORBIDDEN',
      message: expect.any(String),
    })
  })

  it('echoes the id of a message the schema refuses, when it can be read', async () => {
    h = await spawn()
    const t = await h.join('t', 'teacher')
    t.on('error', () => {})
    // call.accept needs a callId
    const refused = await reply(t, { type: 'action', action: 'call.accept', rid: 'accept-2' })
    expect(refused).toMatchObject({ type: 'error', code: 'ERR_MALFORMED_MESSAGE', rid: 'accept-2' })
  })

  it('echoes the id of a publish in its answer and in its refusal', async () => {
    h = await spawn({}, new AnsweringProvider())
    const t = await h.join('t', 'teacher', { room: 'c', kind: 'class' })
    const s = await h.join('s', 'student', { room: 'c' })
    s.on('error', () => {})
    expect(await reply(t, { type: 'publish', sdp: 'v=0', rid: 'pub-1' })).toMatchObject({
      type: 'publish-answer',
      rid: 'pub-1',
    })
    // a class student off stage may not publish
    expect(await reply(s, { type: 'publish', sdp: 'v=0', rid: 'pub-2' })).toMatchObject({
      type: 'error',
      code: 'ERR_FORBIDDEN',
      rid: 'pub-2',
    })
  })
})
