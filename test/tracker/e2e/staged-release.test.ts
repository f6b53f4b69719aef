/**
 * End to end: a real origin (ingest, signed manifests, HTTP chunks), a real tracker, and 12
 * real nodes from `createNode` (libp2p hosts, on-disk chunk stores, playback servers) in 2
 * cities and 3 campuses, each driven by its agent over the command channel.
 */
import { randomBytes } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { nodeContentApi } from '../../../node/agent/index.ts'
import { createNode, type DandelionNode } from '../../../node/index.ts'
import { createOrigin, type Origin } from '../../../origin/index.ts'
import { registerWithTracker } from '../../../origin/tracker-registration.ts'
import type { Tracker } from '../../../tracker/index.ts'
import { ADMIN, Harness, until } from '../harness.ts'

const CAMPUSES = [
  { id: 'bj-1', city: 'bj' },
  { id: 'bj-2', city: 'bj' },
  { id: 'sh-1', city: 'sh' },
]
const h = new Harness()
const nodes: Array<{ id: string; node: DandelionNode; key: PrivateKey; journal: string }> = []
let origin: Origin
let tracker: Tracker
let stopRegistration: () => void
const versions: Record<number, { cid: string; bytes: Buffer }> = {}

beforeAll(async () => {
  tracker = await h.tracker()
  await h.api(tracker, 'POST', '/cities', { id: 'bj', name: 'Beijing' })
  await h.api(tracker, 'POST', '/cities', { id: 'sh', name: 'Shanghai' })
  for (const c of CAMPUSES) await h.api(tracker, 'POST', '/campuses', { ...c, name: c.id })
  origin = await createOrigin({
    dataDir: await h.tmp('e2e-origin-'),
    token: 'origin-token',
    port: 0,
    chunkSize: 256 * 1024,
  })
  stopRegistration = registerWithTracker(origin, { trackerUrl: tracker.url, token: ADMIN })
  const dir = await h.tmp('e2e-files-')
  for (const v of [1, 2, 3]) {
    const bytes = randomBytes(600 * 1024 + v)
    const file = join(dir, `lesson-v${v}.mp4`)
    await writeFile(file, bytes)
    const published = await origin.ingestFile(file, { name: 'lesson', type: 'video', mime: 'video/mp4' })
    versions[published.version] = { cid: published.manifestCid, bytes }
  }
  // the origin registered the versions as drafts; an operator approves them
  await until(
    async () => (await h.api(tracker, 'GET', '/resources/lesson/versions').catch(() => [])).length === 3,
    'registered',
  )
  for (const v of [1, 2, 3]) await h.api(tracker, 'POST', `/resources/lesson/versions/${v}/approve`)

  for (let i = 0; i < 12; i++) {
    const campus = CAMPUSES[i % 3]
    const first = nodes.find((_, j) => j % 3 === i % 3)
    // one identity: the node's libp2p key is also what the agent signs the channel challenge with
    const key = await generateKeyPair('Ed25519')
    const node = await createNode({
      privateKey: key,
      dataDir: await h.tmp('e2e-node-'),
      campus: campus.id,
      city: campus.city,
      originUrl: origin.url,
      trustedOrigins: [origin.publicKey],
      dht: false,
      fallbackIdleMs: 200,
      playback: { port: 0 },
      bootstrap: first === undefined ? [] : [first.node.multiaddrs[0].toString()],
    })
    await node.start()
    const id = `${campus.id}-n${i}`
    const journal = await h.tmp('e2e-agent-')
    nodes.push({ id, node, key, journal })
    await h.agent([tracker.channelUrl], id, {
      campus: campus.id,
      dir: journal,
      key,
      content: nodeContentApi(node),
    })
  }
  await until(() => h.agents.every((a) => a.connected), 'agents connected')
  for (const { id, node } of nodes)
    expect(tracker.state.inventory.nodes.get(id)?.peerId).toBe(node.peerId.toString())
}, 60_000)

afterAll(async () => {
  stopRegistration?.()
  await h.teardown()
  await Promise.allSettled(nodes.map((n) => n.node.stop()))
  await origin?.close()
})

const active = async (n: DandelionNode): Promise<string | undefined> => n.names.get('lesson')
const served = async (n: DandelionNode): Promise<Buffer> =>
  Buffer.from(await (await fetch(`${n.playbackUrl}/content/by-name/lesson`)).arrayBuffer())
const status = (id: string) => h.api(tracker, 'GET', `/releases/${id}`)

describe('staged release with real nodes and origin', () => {
  it('canary → manual gate → full stage; nodes serve the version by name', async () => {
    const rel = await h.api(tracker, 'POST', '/releases', {
      resource: 'lesson',
      version: 1,
      targets: { cities: ['bj', 'sh'] },
      stages: [{ percent: 25, gate: 'manual' }, { percent: 100 }],
    })
    await until(async () => (await status(rel.id)).counts.active === 3, 'canaries active')
    const s = await status(rel.id)
    expect(s.counts.waiting).toBe(9)
    expect(
      (await Promise.all(nodes.map((n) => active(n.node)))).filter((c) => c === versions[1].cid),
    ).toHaveLength(3)
    await h.api(tracker, 'POST', `/releases/${rel.id}/advance`)
    await until(async () => (await status(rel.id)).release.status === 'completed', 'completed')
    const done = await status(rel.id)
    expect(Object.keys(done.campuses).sort()).toEqual(['bj-1', 'bj-2', 'sh-1'])
    expect(done.cities.bj.active + done.cities.sh.active).toBe(12)
    expect(done.bytes.peers + done.bytes.origin).toBeGreaterThanOrEqual(12 * versions[1].bytes.length)
    expect((await served(nodes[5].node)).equals(versions[1].bytes)).toBe(true)
  })

  it('pause holds the next stage, resume completes it, rollback returns to the pinned old version', async () => {
    const rel = await h.api(tracker, 'POST', '/releases', {
      resource: 'lesson',
      version: 2,
      targets: { campuses: ['bj-1', 'bj-2', 'sh-1'] },
      stages: [{ percent: 25 }, { percent: 100 }],
    })
    await h.api(tracker, 'POST', `/releases/${rel.id}/pause`)
    await until(async () => (await status(rel.id)).stages[0].counts.active === 3, 'canaries active')
    const paused = await status(rel.id)
    expect(paused.release).toMatchObject({ status: 'paused', stage: 0 })
    expect(paused.counts.waiting).toBe(9)
    await h.api(tracker, 'POST', `/releases/${rel.id}/resume`)
    await until(async () => (await status(rel.id)).release.status === 'completed', 'completed')
    expect(new Set(await Promise.all(nodes.map((n) => active(n.node))))).toEqual(new Set([versions[2].cid]))

    await h.api(tracker, 'POST', `/releases/${rel.id}/rollback`)
    await until(async () => (await status(rel.id)).counts.reverted === 12, 'reverted')
    expect(new Set(await Promise.all(nodes.map((n) => active(n.node))))).toEqual(new Set([versions[1].cid]))
    expect((await served(nodes[0].node)).equals(versions[1].bytes)).toBe(true)
  })

  it('a node whose agent was offline gets the command after reconnect, exactly once', async () => {
    const target = nodes[3]
    const [offline] = h.agents.splice(3, 1)
    await offline.stop()
    const rel = await h.api(tracker, 'POST', '/releases', {
      resource: 'lesson',
      version: 2,
      targets: { nodes: [target.id] },
    })
    expect((await status(rel.id)).counts.pending).toBe(1)
    const again = await h.agent([tracker.channelUrl], target.id, {
      dir: target.journal,
      key: target.key,
      content: nodeContentApi(target.node),
    })
    await until(async () => (await status(rel.id)).release.status === 'completed', 'completed')
    const applied = (await again.agent.journal.applied()).filter(
      (a) => a.manifestCid === versions[2].cid && a.op === 'place',
    )
    expect(
      applied.filter((a) => a.id === tracker.state.releases.nodesOf(rel.id).get(target.id)?.cmdId),
    ).toHaveLength(1)
    expect(await active(target.node)).toBe(versions[2].cid)
  })

  it('an A/B split lands each version on the nodes of its side', async () => {
    const rel = await h.api(tracker, 'POST', '/releases', {
      resource: 'lesson',
      version: 3,
      ab: { version: 2, percent: 50 },
      targets: { cities: ['bj', 'sh'] },
    })
    await until(async () => (await status(rel.id)).release.status === 'completed', 'completed')
    const s = await status(rel.id)
    expect(s.variants.A.active).toBe(6)
    expect(s.variants.B.active).toBe(6)
    const sides = tracker.state.releases.nodesOf(rel.id)
    for (const { id, node } of nodes) {
      const expected = sides.get(id)!.variant === 'B' ? versions[2] : versions[3]
      expect(await active(node)).toBe(expected.cid)
      expect((await served(node)).equals(expected.bytes)).toBe(true)
    }
  })
})
