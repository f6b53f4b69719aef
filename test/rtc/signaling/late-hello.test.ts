/**
 * A `hello` that reaches the server on a socket it is already closing (the hello timeout refused
 * it, and the client's hello crossed that refusal) used to join the user all the same: nobody
 * could hear the welcome, and the socket's close left the user in the room as a disconnected
 * participant for the whole grace period, counted against the room's limits (the one-on-one
 * room's real student was refused with 4409). A closing socket now joins no one.
 */
import { afterEach, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { type Harness, spawn } from './harness.ts'

let h: Harness | undefined
afterEach(async () => {
  await h?.teardown()
  h = undefined
})

describe('a hello on a closing socket', () => {
  it('joins nobody, so the room keeps its place free', async () => {
    h = await spawn({ helloTimeoutMs: 100, graceMs: 30_000 })
    const t = await h.join('t', 'teacher', { room: 'one', kind: 'one-on-one' })
    const token = h.token('ghost', 'student', 'one')
    // the hello goes out as the server's refusal comes in: it crosses the server's close frame
    const closed = await new Promise<{ code: number; replies: string[] }>((resolve, reject) => {
      const ws = new WebSocket(h!.wsUrl)
      const replies: string[] = []
      ws.on('message', (d) => {
        replies.push(String(d))
        ws.send(JSON.stringify({ type: 'hello', token }))
      })
      ws.on('close', (code) => resolve({ code, replies }))
      ws.on('error', reject)
    })
    expect(closed.code).toBe(4400)
    expect(closed.replies).toHaveLength(1)
    expect(JSON.parse(closed.replies[0])).toMatchObject({ type: 'error', code: 'ERR_MALFORMED_MESSAGE' })
    // the room's one student place is free for the real lamp
    const lamp = await h.join('lamp', 'student', { room: 'one' })
    expect(Object.keys(lamp.state!.participants).sort()).toEqual(['lamp', 't'])
    expect(t.state!.participants.ghost).toBeUndefined()
    expect(h.server.room('one')!.sessions.has('ghost')).toBe(false)
  })
})
