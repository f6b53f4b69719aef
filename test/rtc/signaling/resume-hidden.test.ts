/** A resumed student is replayed what it missed, but never a hidden parent's comings and goings. */
import { afterEach, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { SignalingClient } from '../../../rtc/signaling/client.ts'
import type { ServerMessage } from '../../../rtc/signaling/messages.ts'
import { type Harness, spawn } from './harness.ts'

let h: Harness
afterEach(async () => {
  await h?.teardown()
})

/**
 * Sends `hello` with `resume` on a raw socket, then a `ping`; resolves with every message before
 * the `pong`, which comes after the welcome and every event replayed with it.
 */
function resume(url: string, token: string, session: string, seq: number): Promise<ServerMessage[]> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url)
    const got: ServerMessage[] = []
    ws.on('open', () => {
      ws.send(JSON.stringify({ type: 'hello', token, resume: { session, seq } }))
      ws.send(JSON.stringify({ type: 'ping' }))
    })
    ws.on('message', (d) => {
      const msg = JSON.parse(String(d)) as ServerMessage
      if (msg.type === 'pong') {
        ws.close()
        resolve(got)
      }
      got.push(msg)
    })
    ws.on('close', () => reject(new Error(`closed early after ${JSON.stringify(got)}`)))
  })
}

/**
 * `user` joins as a parent and her connection is lost for good (her app died): a presence, then a
 * leave once the grace period ran out. A `close()` would make her leave at once, with no presence.
 */
async function vanish(h: Harness, user: string): Promise<void> {
  const c = new SignalingClient({ url: h.wsUrl, token: h.token(user, 'parent', 'c'), reconnect: false })
  await c.connect()
  c.drop()
}

describe('resume and hidden observers', () => {
  it("does not replay a parent's presence and leave to a student", async () => {
    // the parent's drop announced at once: her presence is one of the events to filter
    h = await spawn({ graceMs: 50, presenceDelayMs: 0 })
    const t = await h.join('t', 'teacher', { room: 'c', kind: 'class' })
    const s = await h.join('s', 'student', { room: 'c' })
    const seq = s.seq
    await vanish(h, 'mum')
    await t.waitFor((st) => st.participants.mum === undefined)
    // the student resumes from before the parent came (its socket was silently dead meanwhile)
    const got = await resume(h.wsUrl, h.token('s', 'student', 'c'), s.session!, seq)
    const about = got.flatMap((m) =>
      m.type === 'event' && 'user' in m.event && m.event.user === 'mum' ? [m.event.type] : [],
    )
    // before: the presence and leave of the parent were replayed, as the room no longer knew her
    expect(about).toEqual([])
    expect(got[0].type).toBe('welcome')
  })

  it('still replays them to the teacher', async () => {
    // the parent's drop announced at once: her presence is one of the events to filter
    h = await spawn({ graceMs: 50, presenceDelayMs: 0 })
    const t = await h.join('t', 'teacher', { room: 'c', kind: 'class' })
    await h.join('s', 'student', { room: 'c' })
    const seq = t.seq
    await vanish(h, 'mum')
    await t.waitFor((st) => st.participants.mum === undefined)
    const got = await resume(h.wsUrl, h.token('t', 'teacher', 'c', 'class'), t.session!, seq)
    const replayed = got.flatMap((m) =>
      m.type === 'event' && 'user' in m.event && m.event.user === 'mum' ? [m.event.type] : [],
    )
    expect(replayed).toEqual(['join', 'presence', 'leave'])
  })
})
