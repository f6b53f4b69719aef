/**
 * The agent reports the node's health only to a tracker whose welcome names the `health`
 * feature: an older tracker closes the connection on a node frame type it does not know, so
 * to one whose welcome lacks it the agent sends nothing and stays connected. To one that names
 * it: a report right after the welcome, a prompt one when the store starts refusing, and,
 * after a disconnection, the latest health again (no backlog).
 */
import { once } from 'node:events'
import { describe, expect, it } from 'vitest'
import { HEALTH_FEATURE, type NodeFrame, type NodeHealth } from '../../../node/agent/protocol.ts'
import { handshake, received, send, signedCmd } from './fake-tracker.ts'
import { cleanupAfterEach, until } from './helpers.ts'
import { MemoryContent } from './memory-content.ts'

const kit = cleanupAfterEach()

/** A node whose health a test changes. */
class HealthyContent extends MemoryContent {
  reads = 0
  now: NodeHealth = {
    measuredAt: 1,
    store: { chunks: 3, bytes: 3000, pinnedBytes: 3000, quotaBytes: 10_000, refusedWrites: 0 },
    disk: { freeBytes: 50_000_000, minFreeBytes: 1_000_000 },
    corruptChunks: 0,
    connections: 2,
  }
  override health(): NodeHealth {
    this.reads++
    return structuredClone(this.now)
  }
}

const healthFrames = (frames: NodeFrame[]): Array<Extract<NodeFrame, { t: 'health' }>> =>
  frames.filter((f): f is Extract<NodeFrame, { t: 'health' }> => f.t === 'health')

describe('health reports', () => {
  it('sends none to a tracker whose welcome does not name the feature, and stays connected', async () => {
    const tracker = await kit.startTracker()
    const content = new HealthyContent()
    const agent = await kit.startAgent(content, {
      trackers: [tracker.url],
      healthIntervalMs: 20,
      healthCheckMs: 10,
    })
    const ws = await tracker.next()
    let closed = false
    ws.on('close', () => {
      closed = true
    })
    // a tracker of before this feature: its welcome has no `features`
    const hello = await handshake(ws, tracker)
    // the agent names it in its hello all the same: a newer tracker knows it reports
    expect(hello.features).toContain(HEALTH_FEATURE)
    await until(() => agent.connected, 'connected')
    // many report intervals and checks go by...
    await new Promise((r) => setTimeout(r, 300))
    // ...then a command and its ACK: frames are ordered, so anything sent before is here
    send(
      ws,
      signedCmd(tracker.signer, agent.peerId, {
        seq: 1,
        id: 'c1',
        op: 'deactivate',
        resource: 'r',
        version: 1,
        manifestCid: 'x',
      }),
    )
    await received(ws, tracker.frames, 'ack')
    expect(healthFrames(tracker.frames)).toEqual([])
    // the node's health was not even read
    expect(content.reads).toBe(0)
    expect(closed).toBe(false)
    expect(agent.connected).toBe(true)
  })

  it('reports after the welcome, promptly when the store refuses, and the latest after a reconnect', async () => {
    const tracker = await kit.startTracker()
    const content = new HealthyContent()
    const agent = await kit.startAgent(content, {
      trackers: [tracker.url],
      reconnectInitialMs: 20,
      reconnectMaxMs: 200,
      // no periodic report within the test: only the welcome's and the alarming ones
      healthIntervalMs: 3_600_000,
      healthCheckMs: 20,
    })
    const ws = await tracker.next()
    await handshake(ws, tracker, 'n1', tracker.signer, { features: [HEALTH_FEATURE, 'something-newer'] })
    const first = await received(ws, tracker.frames, 'health')
    expect(first.health).toEqual(content.now)

    // the store refuses writes: reported at the next check, not at the next interval
    content.now.store.refusedWrites = 4
    await until(() => healthFrames(tracker.frames).length === 2, 'a prompt report')
    expect(healthFrames(tracker.frames)[1].health.store.refusedWrites).toBe(4)
    // nothing alarming since: no more reports
    content.now.connections = 7
    const reads = content.reads
    await until(() => content.reads > reads + 5, 'more checks')
    expect(healthFrames(tracker.frames)).toHaveLength(2)

    // cut off: what changes meanwhile is not queued; the report after the next welcome is
    // the health as it is then
    agent.disconnect()
    await once(ws, 'close')
    content.now.store.refusedWrites = 12
    content.now.disk = { freeBytes: 10, minFreeBytes: 1_000_000 }
    const again = await tracker.next()
    const before = tracker.frames.length
    await handshake(again, tracker, 'n1', tracker.signer, { features: [HEALTH_FEATURE] })
    await until(() => healthFrames(tracker.frames.slice(before)).length === 1, 'report after the welcome')
    expect(healthFrames(tracker.frames.slice(before))[0].health).toEqual(content.now)
  })
})
