import { once } from 'node:events'
import { createServer, type Server } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterEach, describe, expect, it } from 'vitest'
import { SignalingClient } from '../../../rtc/signaling/client.ts'
import { type Harness, spawn } from './harness.ts'

let h: Harness | undefined
let client: SignalingClient | undefined
let down: Server | undefined
afterEach(async () => {
  client?.close()
  down?.close()
  await h?.teardown()
  h = client = down = undefined
})

/** Takes the port of a stopped server and counts the connection attempts that reach it. */
async function countAttempts(port: number): Promise<{ server: Server; attempts(): number }> {
  let attempts = 0
  const server = createServer((socket) => {
    attempts++
    socket.destroy()
  })
  server.listen(port, '127.0.0.1')
  await once(server, 'listening')
  return { server, attempts: () => attempts }
}

describe('signaling client reconnect', () => {
  it('retries in one loop with backoff while the server is down, then resumes when it is back', async () => {
    const first = await spawn()
    h = first
    const port = Number(new URL(first.server.url).port)
    const c = new SignalingClient({
      url: first.wsUrl,
      token: first.token('s', 'student'),
      reconnectInitialMs: 20,
      reconnectMaxMs: 100,
    })
    client = c
    await c.connect()
    h = undefined
    await first.server.close()
    const counter = await countAttempts(port)
    down = counter.server
    // delays of 20, 40, 80, then 100 ms: about 16 attempts in 1.5 s, however often each fails
    await sleep(1500)
    expect(counter.attempts()).toBeGreaterThanOrEqual(5)
    expect(counter.attempts()).toBeLessThanOrEqual(20)
    down.close()
    await once(down, 'close')
    down = undefined
    h = await spawn({ port })
    const welcome = await once(c, 'welcome')
    expect(welcome[0].user).toBe('s')
    expect(h.server.room('r1')?.state.participants.s?.connected).toBe(true)
  })

  it('stops retrying once closed', async () => {
    const first = await spawn()
    const port = Number(new URL(first.server.url).port)
    const c = new SignalingClient({
      url: first.wsUrl,
      token: first.token('s', 'student'),
      reconnectInitialMs: 20,
      reconnectMaxMs: 20,
    })
    client = c
    await c.connect()
    await first.server.close()
    const counter = await countAttempts(port)
    down = counter.server
    while (counter.attempts() < 3) await sleep(20)
    c.close()
    const seen = counter.attempts()
    await sleep(300)
    // at most the attempt already under way when close() was called
    expect(counter.attempts()).toBeLessThanOrEqual(seen + 1)
  })
})
