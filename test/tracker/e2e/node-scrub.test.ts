/**
 * End to end: scrubbing campus nodes from the tracker. Real nodes from `createNode` with
 * on-disk stores, each driven by its agent, and a real tracker on disk. A chunk the disk
 * changed on a node is found by the pass `POST /nodes/:id/scrub` asks for, and fetched
 * again from a peer; a node that does not scrub says why; a viewer may not ask; a scrub
 * asked of an offline node waits in the outbox across a tracker restart and runs once; an
 * agent older than the command ACKs it and reports it failed, and stays connected; and
 * `dandelion nodes scrub --campus ... --wait` prints what each pass found.
 */

import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { afterEach, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { nodeContentApi } from '../../../node/agent/index.ts'
import { authPayload, CHANNEL_PROTOCOL, type ServerFrame } from '../../../node/agent/protocol.ts'
import { Ed25519Verifier } from '../../../node/ed25519.ts'
import type { DandelionNode } from '../../../node/index.ts'
import { runNodesCommand } from '../../../tracker/cli.ts'
import type { Tracker } from '../../../tracker/index.ts'
import {
  addContent,
  Harness as NodeHarness,
  originKey,
  randomContent,
  readAll,
  TEST_CHUNK_SIZE,
} from '../../node/utils/harness.ts'
import { rot } from '../../node/utils/rot.ts'
import { captureOutput } from '../cli-output.ts'
import { ADMIN, ENROLL, Harness, until } from '../harness.ts'

const h = new Harness()
const nh = new NodeHarness()
/** The scripted agents' sockets, closed after each test. */
const sockets: WebSocket[] = []
afterEach(async () => {
  for (const ws of sockets.splice(0)) ws.terminate()
  await h.teardown()
  await nh.teardown()
})

const VIEWER = 'viewer-token-scrub'

/** A tracker on disk with campuses bj-1 and bj-2 in city bj. */
async function tracker(dataDir?: string): Promise<Tracker> {
  const t = await h.tracker({ dataDir: dataDir ?? (await h.tmp()), viewerToken: VIEWER })
  if (dataDir === undefined) {
    await h.api(t, 'POST', '/cities', { id: 'bj', name: 'Beijing' })
    await h.api(t, 'POST', '/campuses', { id: 'bj-1', city: 'bj', name: 'BJ one' })
    await h.api(t, 'POST', '/campuses', { id: 'bj-2', city: 'bj', name: 'BJ two' })
  }
  return t
}

/** A seeder holding a 4-chunk lesson, and a campus node with its own on-disk store that fetched it. */
async function lessonOnDisk() {
  const seeder = await nh.spawn()
  const bytes = randomContent(4 * TEST_CHUNK_SIZE)
  const m = await addContent(seeder.store, bytes, await originKey(), { name: 'lesson' })
  await seeder.seed(m)
  const node = await nh.spawn({ dataDir: await nh.tempDir(), scrub: { intervalMs: 0 } })
  await nh.connect(node, seeder)
  await node.fetch(m.cid)
  return { node, m, bytes }
}

/** Drives `node` by an agent enrolled as `id` in `campus`; resolves once connected. */
async function drive(t: Tracker, node: DandelionNode, id: string, campus = 'bj-1', dir?: string) {
  const { agent, key } = await h.agent([t.channelUrl], id, { campus, content: nodeContentApi(node), dir })
  await until(() => agent.connected, `${id} connected`)
  return { agent, key }
}

const scrubOf = async (t: Tracker, id: string) => await h.api(t, 'GET', `/nodes/${id}/scrub`)
const ended = async (t: Tracker, id: string): Promise<boolean> =>
  ['done', 'failed'].includes((await scrubOf(t, id)).state)

describe('scrubbing nodes from the tracker', () => {
  it('a rotten chunk is found and fetched again; a node that does not scrub says why; a viewer may not ask', {
    timeout: 60_000,
  }, async () => {
    const t = await tracker()
    const { node, m, bytes } = await lessonOnDisk()
    await drive(t, node, 'disk')
    // a node in memory: no store of its own to scrub
    await drive(t, await nh.spawn(), 'mem')
    await rot(node, m.chunks[2])

    const viewer = await t.app.inject({
      method: 'POST',
      url: '/api/v1/nodes/disk/scrub',
      headers: { authorization: `Bearer ${VIEWER}` },
    })
    expect(viewer.statusCode).toBe(403)

    const asked = await h.api(t, 'POST', '/nodes/disk/scrub')
    expect(asked).toMatchObject({ nodeId: 'disk', state: 'queued', requestedBy: 'admin-token' })
    await h.api(t, 'POST', '/nodes/mem/scrub')
    await until(() => ended(t, 'disk'), 'disk scrubbed')
    await until(() => ended(t, 'mem'), 'mem answered')

    const disk = await scrubOf(t, 'disk')
    // the lesson's 4 chunks and its manifest read back; the rotten one found
    expect(disk).toMatchObject({
      state: 'done',
      found: { chunksChecked: 5, corruptFound: 1, readErrors: 0 },
      reason: 'scrub pass: 5 chunks checked, 1 corrupt (dropped, fetched again), 0 unreadable',
    })
    // the chunk came back from the seeder: the lesson reads whole
    await until(async () => (await node.store.has(m.chunks[2])) && node.status().swarms[0].complete)
    expect(Buffer.from(await readAll(node, m)).equals(Buffer.from(bytes))).toBe(true)

    expect(await scrubOf(t, 'mem')).toMatchObject({
      state: 'failed',
      reason: expect.stringMatching(/this node does not scrub/),
    })
    // who asked, in the audit trail
    const entries = (await h.api(t, 'GET', '/audit')) as Array<{ route: string }>
    // newest first
    expect(entries.filter((e) => e.route === '/api/v1/nodes/:id/scrub')).toMatchObject([
      { params: { id: 'mem' }, status: 202, actor: 'admin-token' },
      { params: { id: 'disk' }, status: 202, actor: 'admin-token' },
    ])
  })

  it('waits for an offline node across a tracker restart, and runs once', { timeout: 60_000 }, async () => {
    const dataDir = await h.tmp()
    const first = await tracker(dataDir)
    await h.api(first, 'POST', '/cities', { id: 'bj', name: 'Beijing' })
    await h.api(first, 'POST', '/campuses', { id: 'bj-1', city: 'bj', name: 'BJ one' })
    const { node } = await lessonOnDisk()
    const journal = await h.tmp('scrub-journal-')
    const { agent, key } = await drive(first, node, 'disk', 'bj-1', journal)
    await agent.stop()
    await until(async () => (await h.api(first, 'GET', '/nodes/disk')).connected === false)
    await h.api(first, 'POST', '/nodes/disk/scrub')
    // asked again while it is still out: the same scrub, no second command
    const again = await h.api(first, 'POST', '/scrubs', { nodes: ['disk'] })
    expect(again.scrubs).toHaveLength(1)
    expect(again.scrubs[0].cmdId).toBe((await scrubOf(first, 'disk')).cmdId)
    await first.close()

    const t = await tracker(dataDir)
    expect(await scrubOf(t, 'disk')).toMatchObject({ state: 'queued' })
    const back = await h.agent([t.channelUrl], 'disk', {
      campus: 'bj-1',
      key,
      dir: journal,
      content: nodeContentApi(node),
    })
    await until(() => back.agent.connected, 'reconnected')
    await until(() => ended(t, 'disk'), 'scrubbed')
    expect(await scrubOf(t, 'disk')).toMatchObject({ state: 'done', found: { chunksChecked: 5 } })
    // one pass, for one command
    expect(node.status().scrub?.totals.chunksChecked).toBe(5)
  })

  it('an agent older than the command ACKs it, reports it failed, and stays connected', {
    timeout: 30_000,
  }, async () => {
    const t = await tracker()
    const key = await generateKeyPair('Ed25519')
    const peerId = peerIdFromPrivateKey(key).toString()
    // an agent of before `node-commands`, scripted: its hello names no features, and it takes a
    // command as its parseCommand did (resource, version and manifestCid required, or the
    // frame is bad and the connection dropped) and checks the signature over the bytes it
    // signed then (every field as it came)
    const ws = new WebSocket(t.channelUrl, CHANNEL_PROTOCOL)
    const frames: ServerFrame[] = []
    sockets.push(ws)
    let dropped = false
    ws.on('close', () => {
      dropped = true
    })
    ws.on('error', (err) => {
      throw err
    })
    let trackerKey: Ed25519Verifier | undefined
    ws.on('message', async (data) => {
      const f = JSON.parse(String(data)) as ServerFrame
      frames.push(f)
      if (f.t === 'challenge') {
        trackerKey = new Ed25519Verifier(f.trackerId, 'tracker id')
        const sig = Buffer.from(await key.sign(authPayload(f.nonce, peerId))).toString('base64url')
        ws.send(
          JSON.stringify({
            t: 'hello',
            peerId,
            sig,
            lastSeq: 0,
            nonce: 'old-agent-nonce',
            enroll: { token: ENROLL, nodeId: 'old', campus: 'bj-1' },
          }),
        )
      }
      if (f.t !== 'cmd') return
      const c = f.cmd as unknown as Record<string, unknown>
      const old = typeof c.resource === 'string' && c.resource.length > 0
      const oldShape =
        old && Number.isSafeInteger(c.version) && typeof c.manifestCid === 'string' && c.manifestCid !== ''
      if (!oldShape) return ws.terminate()
      const bytes = Buffer.from(
        `dandelion/channel/1/cmd\n${peerId}\n${JSON.stringify([
          c.seq,
          c.id,
          c.op,
          c.resource,
          c.version,
          c.manifestCid,
          c.activateAt ?? null,
          c.releaseId ?? null,
        ])}`,
      )
      if (!trackerKey!.verify(bytes, f.sig)) return ws.terminate()
      ws.send(JSON.stringify({ t: 'ack', seq: c.seq, id: c.id }))
      ws.send(
        JSON.stringify({
          t: 'outcome',
          id: c.id,
          status: 'failed',
          reason: `this node does not know the command "${String(c.op)}": it runs an older Dandelion than its tracker; upgrade it`,
        }),
      )
    })
    // enrolled by its hello: not in the inventory before
    await until(
      async () => (await h.api(t, 'GET', '/nodes/old').catch(() => undefined))?.connected === true,
      'old agent welcomed',
    )
    await h.api(t, 'POST', '/scrubs', { campuses: ['bj-1'] })
    await until(() => ended(t, 'old'), 'old agent answered')
    expect(await scrubOf(t, 'old')).toMatchObject({
      state: 'failed',
      reason: expect.stringMatching(/does not know the command "scrub".*upgrade/),
    })
    expect(dropped).toBe(false)
    expect((await h.api(t, 'GET', '/nodes/old')).connected).toBe(true)
    const cmd = frames.find((f) => f.t === 'cmd') as Extract<ServerFrame, { t: 'cmd' }>
    expect(cmd.cmd).toMatchObject({ op: 'scrub', resource: '-', version: 0, manifestCid: '-' })
    ws.close()
  })

  it('dandelion nodes scrub --campus --wait prints what each pass found', { timeout: 60_000 }, async () => {
    const t = await tracker()
    const { node, m } = await lessonOnDisk()
    await drive(t, node, 'disk', 'bj-2')
    await drive(t, await nh.spawn(), 'mem', 'bj-2')
    await rot(node, m.chunks[1])
    const common = ['--tracker', t.url, '--token', ADMIN]

    const { value: code, out } = await captureOutput(() =>
      runNodesCommand(['scrub', '--campus', 'bj-2', '--wait', ...common]),
    )
    const line = (id: string) => out.split('\n').find((l) => l.startsWith(id)) ?? ''
    expect(line('disk')).toMatch(/^disk +done +scrub pass: 5 chunks checked, 1 corrupt .*0 unreadable$/)
    expect(line('mem')).toMatch(/^mem +failed +this node does not scrub/)
    // a failed scrub: exit code 1
    expect(code).toBe(1)

    const viewer = await captureOutput(() =>
      runNodesCommand(['scrub', 'disk', '--tracker', t.url, '--token', VIEWER]).catch((e: Error) => e),
    )
    expect(String(viewer.value)).toMatch(/403/)
  })
})
