/** A scripted tracker for agent tests: hands each connection and frame to the test, signs with its own key. */
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { type WebSocket, WebSocketServer } from 'ws'
import {
  CHANNEL_PROTOCOL,
  type Command,
  type NodeFrame,
  type ServerFrame,
} from '../../../node/agent/protocol.ts'
import { TrackerSigner } from '../../../node/agent/tracker-auth.ts'

export interface FakeTracker {
  url: string
  signer: TrackerSigner
  /** Every connection, in order. */
  connections: WebSocket[]
  /** Resolves with the next connection. */
  next(): Promise<WebSocket>
  /** Frames received, all connections together. */
  frames: NodeFrame[]
  close(): Promise<void>
}

export async function fakeTracker(signer?: TrackerSigner): Promise<FakeTracker> {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0, handleProtocols: () => CHANNEL_PROTOCOL })
  await once(server, 'listening')
  const frames: NodeFrame[] = []
  const connections: WebSocket[] = []
  const waiting: Array<(ws: WebSocket) => void> = []
  const queued: WebSocket[] = []
  server.on('connection', (ws) => {
    ws.on('message', (d) => frames.push(JSON.parse(String(d)) as NodeFrame))
    connections.push(ws)
    const w = waiting.shift()
    if (w === undefined) queued.push(ws)
    else w(ws)
  })
  return {
    url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}/channel`,
    signer: signer ?? new TrackerSigner(await generateKeyPair('Ed25519')),
    connections,
    frames,
    next: async () => queued.shift() ?? (await new Promise<WebSocket>((r) => waiting.push(r))),
    close: async () => {
      for (const ws of connections) ws.terminate()
      await new Promise((r) => server.close(r))
    },
  }
}

export const send = (ws: WebSocket, frame: ServerFrame): void => ws.send(JSON.stringify(frame))

/** Waits until the tracker has received a frame of type `t`; returns the last such frame. */
export async function received<T extends NodeFrame['t']>(
  ws: WebSocket,
  frames: NodeFrame[],
  t: T,
): Promise<Extract<NodeFrame, { t: T }>> {
  while (!frames.some((f) => f.t === t)) await once(ws, 'message')
  return frames.filter((f) => f.t === t).at(-1) as Extract<NodeFrame, { t: T }>
}

/**
 * Runs the handshake as a tracker whose key is `signer`'s; returns the node's hello. `extra`
 * goes into the welcome (a membership statement).
 */
export async function handshake(
  ws: WebSocket,
  tracker: FakeTracker,
  nodeId = 'n1',
  signer = tracker.signer,
  extra: Record<string, unknown> = {},
): Promise<Extract<NodeFrame, { t: 'hello' }>> {
  const before = tracker.frames.length
  send(ws, { t: 'challenge', nonce: 'tracker-nonce', trackerId: tracker.signer.id })
  while (!tracker.frames.slice(before).some((f) => f.t === 'hello')) await once(ws, 'message')
  const hello = tracker.frames.slice(before).find((f) => f.t === 'hello') as Extract<
    NodeFrame,
    { t: 'hello' }
  >
  const sig = signer.welcome({
    nodeNonce: hello.nonce ?? '',
    trackerNonce: 'tracker-nonce',
    peerId: hello.peerId,
    nodeId,
  })
  send(ws, { t: 'welcome', nodeId, sig, ...extra })
  return hello
}

/** Takes the tracker's next connection and welcomes the node on it ({@link handshake}); returns it. */
export async function welcomeNext(tracker: FakeTracker): Promise<WebSocket> {
  const ws = await tracker.next()
  await handshake(ws, tracker)
  return ws
}

/** A `cmd` frame signed by `signer` for the node `peerId`. */
export const signedCmd = (signer: TrackerSigner, peerId: string, cmd: Command): ServerFrame => ({
  t: 'cmd',
  cmd,
  sig: signer.command(peerId, cmd),
})
