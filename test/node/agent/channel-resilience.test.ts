/**
 * The agent's channel when the tracker misbehaves: an address that accepts TCP but never
 * answers, a tracker that welcomes the node and drops it at once (a poison frame, a
 * cloned key replacing the connection), and a node stopped while a command runs.
 */
import { createServer, type Server, type Socket } from 'node:net'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { describe, expect, it } from 'vitest'
import type { Command } from '../../../node/agent/protocol.ts'
import { handshake, received, send, signedCmd, welcomeNext } from './fake-tracker.ts'
import { cleanupAfterEach } from './helpers.ts'
import { MemoryContent } from './memory-content.ts'

const servers: Server[] = []
const sockets: Socket[] = []
const { tempDir, startTracker, startAgent, forget } = cleanupAfterEach({
  last: async () => {
    for (const s of sockets.splice(0)) s.destroy()
    for (const s of servers.splice(0)) await new Promise((r) => s.close(r))
  },
})

const place: Command = {
  seq: 1,
  id: 'c-1',
  op: 'place',
  resource: 'lesson',
  version: 1,
  manifestCid: 'bafy-v1',
}

/** Rejects after `ms` with `what`: keeps a hang from looking like a test timeout. */
const within = <T>(p: Promise<T>, ms: number, what: string): Promise<T> =>
  Promise.race([
    p,
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms)),
  ])

const until = async (check: () => boolean): Promise<void> => {
  while (!check()) await new Promise((r) => setTimeout(r, 10))
}

describe('agent channel resilience', () => {
  it('gives up on a tracker address that accepts TCP but never answers, and fails over', async () => {
    // a hung tracker (or a proxy in front of a dead one): the TCP connection opens, the
    // WebSocket upgrade is never answered
    const hung = createServer((s) => sockets.push(s))
    servers.push(hung)
    await new Promise<void>((r) => hung.listen(0, '127.0.0.1', r))
    const port = (hung.address() as { port: number }).port
    const good = await startTracker()
    await startAgent(new MemoryContent(), {
      trackers: [`ws://127.0.0.1:${port}/channel`, good.url],
      handshakeTimeoutMs: 300,
      reconnectInitialMs: 10,
    })
    await until(() => sockets.length > 0)
    // the node reaches the second address instead of waiting on the first for ever
    const ws = await within(good.next(), 5_000, 'no connection to the second tracker address')
    await handshake(ws, good)
  })

  it('backs off from a tracker that drops the node right after its welcome', async () => {
    // every connection is welcomed and then gets a frame the node cannot take (here a
    // command of an op this node does not know): the node drops the connection, the
    // tracker replays the same frame on the next one
    const tracker = await startTracker()
    const agent = await startAgent(new MemoryContent(), {
      trackers: [tracker.url],
      reconnectInitialMs: 20,
      reconnectMaxMs: 400,
    })
    const welcomed: number[] = []
    const serve = async (): Promise<void> => {
      for (;;) {
        const ws = await tracker.next()
        await handshake(ws, tracker).catch(() => {})
        welcomed.push(Date.now())
        const bad = { ...signedCmd(tracker.signer, agent.peerId, place) }
        ;(bad as { cmd: { op: string } }).cmd = { ...place, op: 'prefetch' }
        send(ws, bad)
      }
    }
    serve().catch(() => {})
    await until(() => welcomed.length >= 1)
    const first = welcomed[0]
    await new Promise((r) => setTimeout(r, 1_500))
    // with backoff (20, 40, …, 400 ms, ±50%) about 6 connections fit in 1.5 s; without it
    // the node came back every 10–30 ms: dozens, and a campus of them hammers the tracker
    const inWindow = welcomed.filter((t) => t - first <= 1_500).length
    expect(inWindow).toBeLessThanOrEqual(10)
    expect(inWindow).toBeGreaterThanOrEqual(2)
  })

  it('stop() waits for the command in progress, so its journal write is not lost', async () => {
    const dir = await tempDir('agent-stop-')
    const tracker = await startTracker()
    const key = await generateKeyPair('Ed25519')
    const content = new MemoryContent()
    // switching the name takes a while (a slow disk): the node is stopped meanwhile
    let release = (): void => {}
    const naming = new Promise<void>((r) => {
      release = r
    })
    const set = content.names.set
    let naming_started = false
    content.names.set = ((name: string, cid: string) => {
      naming_started = true
      return naming.then(() => set(name, cid))
    }) as typeof content.names.set
    const agent = await startAgent(content, { trackers: [tracker.url], dir }, key)
    const ws = await welcomeNext(tracker)
    send(ws, signedCmd(tracker.signer, agent.peerId, place))
    await received(ws, tracker.frames, 'ack')
    await until(() => naming_started)
    let stopped = false
    const stopping = agent.stop().then(() => {
      stopped = true
    })
    forget(agent)
    await new Promise((r) => setTimeout(r, 100))
    // the daemon stops the node once the agent has stopped: nothing may still run on it
    expect(stopped).toBe(false)
    release()
    await stopping
    expect(content.table.get('lesson')).toBe('bafy-v1')

    // restarted: the command was applied once and is known as applied, not applied again
    const again = new MemoryContent()
    const restarted = await startAgent(again, { trackers: [tracker.url], dir }, key)
    expect(await restarted.journal.get(place.id)).toMatchObject({ status: 'active' })
    expect((await restarted.journal.applied()).map((a) => a.id)).toEqual([place.id])
    expect(again.calls).toEqual([])
  })
})
