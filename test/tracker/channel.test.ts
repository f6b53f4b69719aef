import { once } from 'node:events'
import { connect } from 'node:net'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { afterEach, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { authPayload, CHANNEL_PROTOCOL, type ServerFrame } from '../../node/agent/protocol.ts'
import { MemoryContent } from '../node/agent/memory-content.ts'
import { ENROLL, Harness, lessonCid, until } from './harness.ts'

const h = new Harness()
afterEach(() => h.teardown())

/** A bare protocol client: signs the challenge with `signer` but claims `peerId`. */
async function raw(
  url: string,
  signer: PrivateKey,
  opts: { peerId?: string; enroll?: object; ack?: boolean; lastSeq?: number } = {},
): Promise<{ frames: ServerFrame[]; closed: Promise<number>; ws: WebSocket }> {
  const ws = new WebSocket(url, CHANNEL_PROTOCOL)
  const frames: ServerFrame[] = []
  const peerId = opts.peerId ?? peerIdFromPrivateKey(signer).toString()
  const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)))
  ws.on('message', async (data) => {
    const f = JSON.parse(data.toString()) as ServerFrame
    frames.push(f)
    if (f.t === 'challenge') {
      const sig = Buffer.from(await signer.sign(authPayload(f.nonce, peerId))).toString('base64url')
      ws.send(JSON.stringify({ t: 'hello', peerId, sig, lastSeq: opts.lastSeq ?? 0, enroll: opts.enroll }))
    }
    if (f.t === 'cmd' && opts.ack === true)
      ws.send(JSON.stringify({ t: 'ack', seq: f.cmd.seq, id: f.cmd.id }))
  })
  return { frames, closed, ws }
}

describe('command channel', () => {
  it('enrolls nodes, delivers a release and applies each command exactly once', async () => {
    const t = await h.tracker()
    await h.seed(t)
    const nodes = await Promise.all(
      [0, 1, 2].map(async (i) => h.agent([t.channelUrl], `n${i}`, { campus: 'bj-1', dir: await h.tmp() })),
    )
    await until(() => nodes.every((n) => n.agent.connected), 'agents connected')
    const rel = await h.api(t, 'POST', '/releases', {
      resource: 'lesson',
      version: 1,
      targets: { campuses: ['bj-1'] },
    })
    await until(() => t.state.releases.get(rel.id).status === 'completed', 'release completed')
    for (const n of nodes) {
      const applied = await n.agent.journal.applied()
      expect(applied.map((a) => a.op)).toEqual(['place'])
      expect((n.content as MemoryContent).table.get('lesson')).toBe(lessonCid(1))
    }
    const status = await h.api(t, 'GET', `/releases/${rel.id}`)
    expect(status.counts.active).toBe(3)
    expect(status.bytes).toEqual({ peers: 1800, origin: 1200 })
  })

  it('gives an offline node its command after reconnect, exactly once', async () => {
    const t = await h.tracker()
    await h.seed(t)
    const dir = await h.tmp()
    const a = await h.agent([t.channelUrl], 'n0', { campus: 'sh-1', dir })
    await until(() => a.agent.connected, 'connected')
    await a.agent.stop() // offline
    const rel = await h.api(t, 'POST', '/releases', {
      resource: 'lesson',
      version: 2,
      targets: { cities: ['sh'] },
    })
    expect(t.state.releases.get(rel.id).status).toBe('running')
    const content = new MemoryContent()
    const b = await h.agent([t.channelUrl], 'n0', { dir, key: a.key, content })
    await until(() => t.state.releases.get(rel.id).status === 'completed', 'completed after reconnect')
    expect((await b.agent.journal.applied()).map((x) => x.manifestCid)).toEqual([lessonCid(2)])
    expect(content.calls.filter((c) => c.startsWith('fetch'))).toHaveLength(1)
  })

  it('replays after a drop and after a node restart without applying twice', async () => {
    const t = await h.tracker()
    await h.seed(t)
    const dir = await h.tmp()
    const held = Promise.withResolvers<void>()
    const content = new MemoryContent()
    content.gate = held.promise
    const a = await h.agent([t.channelUrl], 'n0', { campus: 'bj-2', dir, content })
    await until(() => a.agent.connected, 'connected')
    const rel = await h.api(t, 'POST', '/releases', {
      resource: 'lesson',
      version: 1,
      targets: { nodes: ['n0'] },
    })
    await until(() => t.state.releases.nodesOf(rel.id).get('n0')?.state === 'fetching', 'ACKed')
    // a dropped connection: the tracker replays the unfinished command, the node dedups it
    const sentBefore = t.channel.stats.sent
    a.agent.disconnect()
    await until(() => t.channel.stats.sent > sentBefore && a.agent.connected, 'replayed')
    // a restart mid-fetch: the journal re-queues the received command, once
    await a.agent.stop()
    const again = new MemoryContent()
    const b = await h.agent([t.channelUrl], 'n0', { dir, key: a.key, content: again })
    await until(() => t.state.releases.get(rel.id).status === 'completed', 'completed')
    held.resolve()
    expect(await b.agent.journal.applied()).toHaveLength(1)
    expect(again.calls.filter((c) => c.startsWith('fetch'))).toHaveLength(1)
  })

  it('enrolls again after an operator deleted the node', async () => {
    const t = await h.tracker()
    await h.seed(t)
    const a = await h.agent([t.channelUrl], 'n0', { campus: 'bj-1', dir: await h.tmp() })
    await until(() => a.agent.connected, 'connected')
    const refused = new Promise((resolve) => a.agent.once('refused', resolve))
    await h.api(t, 'DELETE', '/nodes/n0') // also closes its channel
    expect(await refused).toMatchObject({ code: 'ERR_NOT_ENROLLED' })
    await until(() => t.state.inventory.nodes.get('n0')?.peerId === a.agent.peerId, 'enrolled again')
  })

  it('continues sequence numbers after a node that holds more than this tracker issued', async () => {
    const t = await h.tracker()
    await h.seed(t)
    const key = await generateKeyPair('Ed25519')
    // a node whose journal has seen up to 41 (e.g. the tracker was restored from an old backup)
    const ws = new WebSocket(t.channelUrl, CHANNEL_PROTOCOL)
    const frames: ServerFrame[] = []
    const peerId = peerIdFromPrivateKey(key).toString()
    ws.on('message', async (data) => {
      const f = JSON.parse(data.toString()) as ServerFrame
      frames.push(f)
      if (f.t === 'challenge') {
        const sig = Buffer.from(await key.sign(authPayload(f.nonce, peerId))).toString('base64url')
        ws.send(
          JSON.stringify({
            t: 'hello',
            peerId,
            sig,
            lastSeq: 41,
            enroll: { token: ENROLL, nodeId: 'n0', campus: 'bj-1' },
          }),
        )
      }
    })
    await until(() => frames.some((f) => f.t === 'welcome'), 'welcome')
    await h.api(t, 'POST', '/releases', { resource: 'lesson', version: 1, targets: { nodes: ['n0'] } })
    await until(() => frames.some((f) => f.t === 'cmd'), 'command')
    expect(frames.find((f) => f.t === 'cmd')).toMatchObject({ cmd: { seq: 42 } })
    ws.close()
  })

  it('closes silent connections on both sides', async () => {
    const t = await h.tracker({ heartbeatIntervalMs: 100 })
    await h.seed(t)
    // tracker side: a node that stops answering pings loses its session
    const key = await generateKeyPair('Ed25519')
    const peerId = peerIdFromPrivateKey(key).toString()
    const ws = new WebSocket(t.channelUrl, CHANNEL_PROTOCOL, { autoPong: false })
    const closed = new Promise((resolve) => ws.on('close', resolve))
    ws.on('message', async (data) => {
      const f = JSON.parse(data.toString()) as ServerFrame
      if (f.t !== 'challenge') return
      const sig = Buffer.from(await key.sign(authPayload(f.nonce, peerId))).toString('base64url')
      ws.send(
        JSON.stringify({ t: 'hello', peerId, sig, lastSeq: 0, enroll: { token: ENROLL, nodeId: 'mute' } }),
      )
    })
    await until(() => t.channel.isConnected('mute'), 'connected')
    await closed
    await until(() => !t.channel.isConnected('mute'), 'session dropped')

    // agent side: a server that accepts but never speaks is left for the next address
    const { WebSocketServer } = await import('ws')
    const silent = new WebSocketServer({ host: '127.0.0.1', port: 0 })
    await new Promise((r) => silent.once('listening', r))
    try {
      const port = (silent.address() as { port: number }).port
      const { createAgent } = await import('../../node/agent/index.ts')
      const agent = createAgent(
        { content: new MemoryContent(), privateKey: await generateKeyPair('Ed25519') },
        {
          trackers: [`ws://127.0.0.1:${port}/channel`, t.channelUrl],
          silenceTimeoutMs: 300,
          reconnectInitialMs: 20,
          enrollment: { token: ENROLL, nodeId: 'n-failover' },
        },
      )
      h.agents.push(agent)
      await agent.start()
      await until(() => agent.connected, 'left the silent server for the tracker')
    } finally {
      for (const c of silent.clients) c.terminate()
      silent.close()
    }
  })

  it('bounds connections that have not finished their handshake', async () => {
    const t = await h.tracker({ maxPendingHandshakes: 1 })
    const idle = new WebSocket(t.channelUrl, CHANNEL_PROTOCOL)
    await new Promise((r) => idle.once('message', r)) // challenge, never answered
    const second = new WebSocket(t.channelUrl, CHANNEL_PROTOCOL)
    expect(await new Promise((r) => second.once('close', r))).toBe(4005)
    idle.close()
  })

  it('answers an upgrade to another path with 404 and closes it, and keeps serving', {
    timeout: 15_000,
  }, async () => {
    const t = await h.tracker()
    const { hostname, port } = new URL(t.url)
    // '//' does not parse as a path (new URL throws): it must not take the tracker down
    for (const path of ['/not-the-channel', '//']) {
      const socket = connect(Number(port), hostname)
      let answer = ''
      socket.on('data', (d) => {
        answer += d.toString()
      })
      socket.write(
        `GET ${path} HTTP/1.1\r\nHost: ${hostname}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
          'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
      )
      // before the fix nothing answered and the socket stayed open: this waited until the timeout
      await once(socket, 'close')
      expect(answer).toMatch(/^HTTP\/1\.1 404 /)
    }
    const ws = new WebSocket(t.channelUrl, CHANNEL_PROTOCOL)
    const [challenge] = await once(ws, 'message')
    expect(JSON.parse(String(challenge))).toMatchObject({ t: 'challenge' })
    ws.close()
  })

  it('fails over to the next tracker address', async () => {
    const t = await h.tracker()
    await h.seed(t)
    const a = await h.agent(['ws://127.0.0.1:1/channel', t.channelUrl], 'n0', { campus: 'bj-1' })
    await until(() => a.agent.connected, 'connected through the second address')
  })

  it('fails over to a standby tracker that took over the data directory', async () => {
    const dataDir = await h.tmp('tracker-standby-')
    const primary = await h.tracker({ dataDir })
    await h.seed(primary)
    // the standby's address is known in advance (a port reserved now, used later)
    const probe = await h.tracker()
    const standbyPort = Number(new URL(probe.url).port)
    await probe.close()
    h.trackers.splice(h.trackers.indexOf(probe), 1)
    const urls = [primary.channelUrl, `ws://127.0.0.1:${standbyPort}/channel`]
    const a = await h.agent(urls, 'n0', { campus: 'bj-1', dir: await h.tmp() })
    await until(() => a.agent.connected, 'connected to the primary')
    await primary.close()
    h.trackers.splice(h.trackers.indexOf(primary), 1)
    const standby = await h.tracker({ dataDir, port: standbyPort })
    await until(() => a.agent.connected, 'failed over to the standby')
    const rel = await h.api(standby, 'POST', '/releases', {
      resource: 'lesson',
      version: 1,
      targets: { nodes: ['n0'] },
    })
    await until(() => standby.state.releases.get(rel.id).status === 'completed', 'completed via the standby')
    expect((a.content as MemoryContent).table.get('lesson')).toBe(lessonCid(1))
  })

  it('retransmits an unACKed command with backoff', async () => {
    // 240 ms: each doubled delay (240, 480, 960, 1920) lands just before a 250 ms tick of
    // the retransmit loop, so the resends come about 250, 500, 1000, 2000 ms apart
    const t = await h.tracker({ retransmitInitialMs: 240 })
    await h.seed(t)
    const key = await generateKeyPair('Ed25519')
    const c = await raw(t.channelUrl, key, { enroll: { token: ENROLL, nodeId: 'silent', campus: 'bj-1' } })
    const arrivals: number[] = []
    c.ws.on('message', (data) => {
      if ((JSON.parse(data.toString()) as ServerFrame).t === 'cmd') arrivals.push(performance.now())
    })
    await until(() => c.frames.some((f) => f.t === 'welcome'), 'welcome')
    await h.api(t, 'POST', '/releases', { resource: 'lesson', version: 1, targets: { nodes: ['silent'] } })
    await until(() => arrivals.length >= 5, 'four retransmissions')
    c.ws.close()
    const ids = new Set(c.frames.flatMap((f) => (f.t === 'cmd' ? [f.cmd.id] : [])))
    expect(ids.size).toBe(1)
    // the first gap depends on where the loop's tick falls; the later ones must keep growing
    const gaps = arrivals.slice(1, 5).map((at, i) => at - arrivals[i])
    expect(gaps[2] / gaps[1], `gaps ${gaps.map(Math.round).join(', ')} ms`).toBeGreaterThanOrEqual(1.5)
    expect(gaps[3] / gaps[2], `gaps ${gaps.map(Math.round).join(', ')} ms`).toBeGreaterThanOrEqual(1.5)
  })

  it('refuses a bad enrollment token, a forged PeerId and a taken node id', async () => {
    const t = await h.tracker()
    await h.seed(t)
    const victim = await h.agent([t.channelUrl], 'victim', { campus: 'bj-1' })
    await until(() => victim.agent.connected, 'victim connected')
    const attacker = await generateKeyPair('Ed25519')

    const badToken = await raw(t.channelUrl, attacker, { enroll: { token: 'wrong-token', nodeId: 'x' } })
    expect(await badToken.closed).toBe(4001)
    expect(badToken.frames.at(-1)).toMatchObject({ t: 'error', code: 'ERR_BAD_ENROLLMENT_TOKEN' })

    // claims the victim's PeerId but can only sign with its own key
    const forged = await raw(t.channelUrl, attacker, { peerId: victim.agent.peerId })
    expect(await forged.closed).toBe(4001)
    expect(forged.frames.at(-1)).toMatchObject({ t: 'error', code: 'ERR_BAD_SIGNATURE' })

    // a valid token does not let another key take over an enrolled node id
    const takeover = await raw(t.channelUrl, attacker, { enroll: { token: ENROLL, nodeId: 'victim' } })
    expect(await takeover.closed).toBe(4001)
    expect(takeover.frames.at(-1)).toMatchObject({ t: 'error', code: 'ERR_NODE_TAKEN' })

    expect(victim.agent.connected).toBe(true)
    expect(t.state.inventory.nodes.get('victim')?.peerId).toBe(victim.agent.peerId)
  })

  it('refuses a hello whose lastSeq is far beyond what was issued, and saves nothing', async () => {
    const t = await h.tracker()
    await h.seed(t)
    const key = await generateKeyPair('Ed25519')
    const enroll = { token: ENROLL, nodeId: 'n0', campus: 'bj-1' }
    const first = await raw(t.channelUrl, key, { enroll, ack: true })
    await until(() => first.frames.some((f) => f.t === 'welcome'), 'welcome')
    const rel = await h.api(t, 'POST', '/releases', {
      resource: 'lesson',
      version: 1,
      targets: { nodes: ['n0'] },
    })
    await until(() => first.frames.some((f) => f.t === 'cmd'), 'first command')
    first.ws.close()
    await first.closed
    await until(() => !t.channel.isConnected('n0'), 'disconnected')

    // a node claiming to hold sequence numbers up to 2^53 - 1
    const absurd = await raw(t.channelUrl, key, { lastSeq: Number.MAX_SAFE_INTEGER })
    await until(() => absurd.frames.some((f) => f.t === 'welcome' || f.t === 'error'), 'answer to the hello')
    expect(absurd.frames.some((f) => f.t === 'welcome')).toBe(false)
    expect(absurd.frames.at(-1)).toMatchObject({ t: 'error', code: 'ERR_LAST_SEQ_OUT_OF_RANGE' })
    expect(await absurd.closed).toBe(4002)
    expect(t.state.outbox.issued('n0')).toBe(1)

    // a legitimate reconnect (lastSeq = what it was issued) works, and numbering goes on
    const again = await raw(t.channelUrl, key, { lastSeq: 1, ack: true })
    await until(() => again.frames.some((f) => f.t === 'welcome'), 'welcome again')
    // this node never reports an outcome: the first release waits on it until aborted, and
    // no other release of the lesson may reach it meanwhile (ERR_RELEASE_OVERLAP)
    await h.api(t, 'POST', `/releases/${rel.id}/abort`)
    await h.api(t, 'POST', '/releases', { resource: 'lesson', version: 2, targets: { nodes: ['n0'] } })
    await until(() => again.frames.some((f) => f.t === 'cmd' && f.cmd.version === 2), 'second command')
    expect(again.frames.find((f) => f.t === 'cmd' && f.cmd.version === 2)).toMatchObject({ cmd: { seq: 2 } })
    again.ws.close()
  })
})
