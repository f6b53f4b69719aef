import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { afterEach, describe, expect, it } from 'vitest'
import { type WebSocket, WebSocketServer } from 'ws'
import { type Agent, createAgent } from '../../../node/agent/index.ts'
import {
  CHANNEL_PROTOCOL,
  type Command,
  type NodeFrame,
  type ServerFrame,
} from '../../../node/agent/protocol.ts'
import { MemoryContent } from './memory-content.ts'

const agents: Agent[] = []
const servers: WebSocketServer[] = []
afterEach(async () => {
  for (const a of agents.splice(0)) await a.stop()
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r))
})

const cmd = (seq: number): Command => ({
  seq,
  id: `cmd-${seq}`,
  op: 'place',
  resource: 'lesson',
  version: seq,
  manifestCid: `bafy-v${seq}`,
})

/** A scripted tracker: hands each connection and every frame it receives to the test. */
async function fakeTracker(): Promise<{ url: string; connection: Promise<WebSocket>; frames: NodeFrame[] }> {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0, handleProtocols: () => CHANNEL_PROTOCOL })
  servers.push(server)
  await once(server, 'listening')
  const frames: NodeFrame[] = []
  const connection = new Promise<WebSocket>((resolve) =>
    server.once('connection', (ws) => {
      ws.on('message', (d) => frames.push(JSON.parse(String(d)) as NodeFrame))
      resolve(ws)
    }),
  )
  return { url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}/channel`, connection, frames }
}

const send = (ws: WebSocket, frame: ServerFrame): void => ws.send(JSON.stringify(frame))

/** Waits until the tracker has received a frame of type `t`. */
async function received(ws: WebSocket, frames: NodeFrame[], t: NodeFrame['t']): Promise<void> {
  while (!frames.some((f) => f.t === t)) await once(ws, 'message')
}

describe('agent channel', () => {
  it('ignores commands that arrive before the tracker welcomed the node', async () => {
    const tracker = await fakeTracker()
    const content = new MemoryContent()
    const agent = createAgent(
      { content, privateKey: await generateKeyPair('Ed25519') },
      { trackers: [tracker.url] },
    )
    agents.push(agent)
    await agent.start()
    const ws = await tracker.connection
    // a command before the challenge is answered, and one after the hello but before welcome
    send(ws, { t: 'cmd', cmd: cmd(1) })
    send(ws, { t: 'challenge', nonce: 'n1' })
    await received(ws, tracker.frames, 'hello')
    send(ws, { t: 'cmd', cmd: cmd(2) })
    send(ws, { t: 'welcome', nodeId: 'n1' })
    send(ws, { t: 'cmd', cmd: cmd(3) })
    // frames are handled in order: once cmd-3 is ACKed, the earlier ones were seen too
    await received(ws, tracker.frames, 'ack')
    expect(tracker.frames.filter((f) => f.t === 'ack')).toEqual([{ t: 'ack', seq: 3, id: 'cmd-3' }])
    expect(await agent.journal.get('cmd-1')).toBeUndefined()
    expect(await agent.journal.get('cmd-2')).toBeUndefined()
    await received(ws, tracker.frames, 'outcome')
    expect(content.calls.filter((c) => c.startsWith('fetch'))).toEqual(['fetch bafy-v3'])
  })
})
