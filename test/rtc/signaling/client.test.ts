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

/** Takes the port of a stopped server and records when each connection attempt reaches it. */
async function recordAttempts(port: number): Promise<{
  server: Server
  /** `performance.now()` of each attempt, in order. */
  times: number[]
  /** Resolves once `n` attempts have arrived. */
  reached(n: number): Promise<void>
}> {
  const times: number[] = []
  const waiting: Array<{ n: number; resolve: () => void }> = []
  const server = createServer((socket) => {
    times.push(performance.now())
    socket.destroy()
    for (const w of waiting) if (times.length >= w.n) w.resolve()
  })
  server.listen(port, '127.0.0.1')
  await once(server, 'listening')
  return {
    server,
    times,
    reached: (n) =>
      times.length >= n ? Promise.resolve() : new Promise((resolve) => waiting.push({ n, resolve })),
  }
}

describe('signaling client reconnect', () => {
  it('retries in one loop with backoff while the server is down, then resumes when it is back', async () => {
    const first = await spawn()
    h = first
    const port = Number(new URL(first.server.url).port)
    const c = new SignalingClient({
      url: first.wsUrl,
      token: first.token('s', 'student'),
      reconnectInitialMs: 50,
      reconnectMaxMs: 400,
    })
    client = c
    await c.connect()
    h = undefined
    await first.server.close()
    const counter = await recordAttempts(port)
    down = counter.server
    // delays of 50, 100, 200, then 400 ms: six attempts take about 1.6 s
    await counter.reached(6)
    const gaps = counter.times.slice(1).map((t, i) => t - counter.times[i])
    const shown = `gaps (ms): ${gaps.map((g) => Math.round(g)).join(', ')}`
    // Ratios within this run only. A stalled event loop only ever lengthens a gap, so the bounds
    // leave room for one: gaps double (≥ 1.5×) until the cap, then stay there (< 1.75×).
    // k counts the doubling gaps, so this holds even if the first attempt beat the listener.
    let k = 1
    while (k < gaps.length && gaps[k] >= 1.5 * gaps[k - 1]) k++
    expect(k, shown).toBeGreaterThanOrEqual(2)
    expect(gaps.length - k, shown).toBeGreaterThanOrEqual(2)
    for (const gap of gaps.slice(k)) expect(gap / gaps[k - 1], shown).toBeLessThan(1.75)
    // one loop: no attempt follows another sooner than half the delay before it (a second loop would)
    for (let i = 1; i < gaps.length; i++) expect(gaps[i] / gaps[i - 1], shown).toBeGreaterThanOrEqual(0.5)
    down.close()
    await once(down, 'close')
    down = undefined
    h = await spawn({ port })
    const welcome = await once(c, 'welcome')
    expect(welcome[0].user).toBe('s')
    expect(h.server.room('r1')?.state.participants.s?.connected).toBe(true)
  }, 10_000)

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
    const counter = await recordAttempts(port)
    down = counter.server
    await counter.reached(3)
    c.close()
    const seen = counter.times.length
    // waiting for something not to happen: 15 retry delays
    await sleep(300)
    // at most the attempt already under way when close() was called
    expect(counter.times.length).toBeLessThanOrEqual(seen + 1)
  })
})
