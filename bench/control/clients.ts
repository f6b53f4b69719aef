/**
 * Benchmark child: many light nodes speaking the real channel protocol (challenge
 * signature, enrollment, the `membership` feature, ACK, outcome) without a content API. Each client dedups by
 * command id in memory (the process outlives its reconnections), and counts how often
 * a command was delivered again and how often one would have been applied twice.
 *
 * argv: <channelUrl> <count> <offset> <enrollmentToken>
 * IPC in: { type: 'arm-drop', percent } · { type: 'stats' } · { type: 'exit' }
 * IPC out: { type: 'ready' } · { type: 'stats', ... }
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import WebSocket from 'ws'
import { authPayload, CHANNEL_PROTOCOL, parseServerFrame } from '../../node/agent/protocol.ts'

const [url, countArg, offsetArg, token] = process.argv.slice(2)
const count = Number(countArg)
const offset = Number(offsetArg)

interface Client {
  index: number
  nodeId: string
  key: PrivateKey
  peerId: string
  ws?: WebSocket
  lastSeq: number
  failures: number
  applied: Set<string>
  releases: Set<string>
  enrolled: boolean
  /** Drop the connection on the next command: 'before-ack' or 'after-ack'. */
  drop?: 'before-ack' | 'after-ack'
}

const stats = { applied: 0, duplicatesApplied: 0, redelivered: 0, reconnects: 0, dropped: 0 }
const clients: Client[] = []
/** Clients that applied each `releaseId:op`. */
const perRelease = new Map<string, number>()
let connected = 0

function connect(c: Client): Promise<void> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, CHANNEL_PROTOCOL, { perMessageDeflate: false })
    c.ws = ws
    let welcomed = false
    ws.on('message', async (data) => {
      const f = parseServerFrame(data.toString())
      if (f === undefined) return
      if (f.t === 'challenge') {
        const sig = Buffer.from(await c.key.sign(authPayload(f.nonce, c.peerId))).toString('base64url')
        const enroll = c.enrolled ? undefined : { token, nodeId: c.nodeId, campus: `campus-${c.index % 10}` }
        // as an agent of this version does: the tracker signs each a membership statement
        const features = ['membership']
        ws.send(JSON.stringify({ t: 'hello', peerId: c.peerId, sig, lastSeq: c.lastSeq, enroll, features }))
      } else if (f.t === 'welcome') {
        welcomed = true
        c.failures = 0
        c.enrolled = true
        connected++
        resolve()
      } else if (f.t === 'cmd') {
        const cmd = f.cmd
        if (c.drop === 'before-ack') {
          c.drop = undefined
          stats.dropped++
          ws.terminate()
          return
        }
        if (c.applied.has(cmd.id)) {
          // dedup by id: re-ACK and re-report, never apply again
          stats.redelivered++
          ws.send(JSON.stringify({ t: 'ack', seq: cmd.seq, id: cmd.id }))
          ws.send(JSON.stringify({ t: 'outcome', id: cmd.id, status: 'active' }))
          return
        }
        c.applied.add(cmd.id)
        // a second, different command for the same release and op would be a duplicate the
        // tracker created (dedup by id cannot catch it): count it as applied twice
        const what = `${cmd.releaseId}:${cmd.op}`
        if (c.releases.has(what)) stats.duplicatesApplied++
        c.releases.add(what)
        perRelease.set(what, (perRelease.get(what) ?? 0) + 1)
        c.lastSeq = Math.max(c.lastSeq, cmd.seq)
        stats.applied++
        ws.send(JSON.stringify({ t: 'ack', seq: cmd.seq, id: cmd.id }))
        if (c.drop === 'after-ack') {
          c.drop = undefined
          stats.dropped++
          ws.terminate()
          return
        }
        ws.send(JSON.stringify({ t: 'outcome', id: cmd.id, status: 'active', peerBytes: 0, originBytes: 0 }))
      } else if (f.t === 'error') {
        process.stderr.write(`client ${c.nodeId} refused: ${f.code}\n`)
      }
    })
    ws.on('close', () => {
      if (welcomed) connected--
      if (shuttingDown) return
      stats.reconnects++
      // backoff with jitter while the tracker is unreachable (e.g. restarting)
      const delay = Math.min(20 * 2 ** c.failures, 1000) * (0.5 + Math.random())
      if (!welcomed) c.failures++
      setTimeout(() => void connect(c), delay)
    })
    ws.on('error', () => {})
  })
}

let shuttingDown = false

for (let i = 0; i < count; i++) {
  const key = await generateKeyPair('Ed25519')
  const index = offset + i
  clients.push({
    index,
    nodeId: `node-${index}`,
    key,
    peerId: peerIdFromPrivateKey(key).toString(),
    lastSeq: 0,
    failures: 0,
    applied: new Set(),
    releases: new Set(),
    enrolled: false,
  })
}
// connect in waves so the accept queue is not flooded
const WAVE = 250
for (let i = 0; i < clients.length; i += WAVE) await Promise.all(clients.slice(i, i + WAVE).map(connect))
process.send!({ type: 'ready', connected })

process.on('message', (m: { type: string; percent?: number }) => {
  if (m.type === 'arm-drop') {
    const every = Math.round(100 / (m.percent ?? 10))
    clients.forEach((c, i) => {
      if (i % every === 0) c.drop = (i / every) % 2 === 0 ? 'before-ack' : 'after-ack'
    })
    process.send!({ type: 'armed' })
  } else if (m.type === 'stats') {
    process.send!({ type: 'stats', connected, ...stats, perRelease: Object.fromEntries(perRelease) })
  } else if (m.type === 'exit') {
    shuttingDown = true
    for (const c of clients) c.ws?.terminate()
    process.exit(0)
  }
})
