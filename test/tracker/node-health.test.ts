/**
 * Node health on the tracker, with real agents on a real tracker on disk: each node's latest
 * report shows in `GET /nodes/:id` and the listing after its welcome; a node whose store
 * refuses content is listed by `?attention=true` with the reason and counted in the metrics;
 * an older agent (no feature in its hello) is welcomed and kept, with no health; a malformed
 * report is refused as any bad frame and nothing is kept; a deleted node's report is dropped;
 * `dandelion nodes list` shows it and `--attention` filters.
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { afterEach, describe, expect, it } from 'vitest'
import { CLOSE_CODES, HEALTH_FEATURE, type NodeHealth } from '../../node/agent/protocol.ts'
import { runNodesCommand } from '../../tracker/cli.ts'
import type { Tracker } from '../../tracker/index.ts'
import { MemoryContent } from '../node/agent/memory-content.ts'
import { captureOutput } from './cli-output.ts'
import { Harness, until } from './harness.ts'
import { bareNode, metric } from './wire.ts'

const h = new Harness()
afterEach(() => h.teardown())

const MiB = 1024 * 1024

/** A node in good health. */
const good = (): NodeHealth => ({
  measuredAt: Date.now(),
  store: { chunks: 40, bytes: 40 * MiB, pinnedBytes: 30 * MiB, quotaBytes: 1024 * MiB, refusedWrites: 0 },
  disk: { freeBytes: 20_000 * MiB, minFreeBytes: 1024 * MiB },
  scrub: { running: false, lastPassEndedAt: Date.now() - 3_600_000, corruptFound: 0, totalCorruptFound: 0 },
  corruptChunks: 0,
  connections: 3,
  origin: { consecutiveFailures: 0 },
})

/** Starts an agent `nodeId` in bj-1 that reports `health` (checked every 20 ms). */
async function reporting(t: Tracker, nodeId: string, health: NodeHealth): Promise<MemoryContent> {
  const content = new MemoryContent()
  content.healthNow = health
  const { agent } = await h.agent([t.channelUrl], nodeId, {
    campus: 'bj-1',
    content,
    init: { healthCheckMs: 20 },
  })
  await until(() => agent.connected, `${nodeId} connected`)
  await until(
    async () => (await h.api(t, 'GET', `/nodes/${nodeId}`)).health !== undefined,
    `${nodeId} health`,
  )
  return content
}

describe('node health on the tracker', () => {
  it("shows a node's health after its welcome; an older agent's node is kept connected, without health", {
    timeout: 30_000,
  }, async () => {
    const t = await h.tracker({ dataDir: await h.tmp() })
    await h.seed(t)
    const sent = good()
    const before = Date.now()
    await reporting(t, 'n0', sent)
    const n0 = await h.api(t, 'GET', '/nodes/n0')
    expect(n0.connected).toBe(true)
    expect(n0.health).toEqual({ ...sent, reportedAt: expect.any(Number), attention: [] })
    expect(n0.health.reportedAt).toBeGreaterThanOrEqual(before)
    // and in the listing
    const { nodes } = await h.api(t, 'GET', '/nodes')
    expect(nodes.find((n: { id: string }) => n.id === 'n0').health.store.bytes).toBe(40 * MiB)
    expect(await metric(t, 'dandelion_tracker_nodes_health_reported')).toBe(1)

    // an agent from before health reports: its hello names no feature; the welcome names
    // `health`, a field it ignores, and it keeps its channel
    const old = await bareNode(t.channelUrl, await generateKeyPair('Ed25519'), 'old0')
    await until(() => old.frames.some((f) => f.t === 'welcome'), 'welcome')
    expect(old.frames.find((f) => f.t === 'welcome')).toMatchObject({ features: [HEALTH_FEATURE] })
    await old.settled()
    const o = await h.api(t, 'GET', '/nodes/old0')
    expect(o.connected).toBe(true)
    expect(o).not.toHaveProperty('health')
  })

  it('lists a node whose store refuses content under ?attention=true, with the reason, and counts it', {
    timeout: 30_000,
  }, async () => {
    const t = await h.tracker({ dataDir: await h.tmp() })
    await h.seed(t)
    await reporting(t, 'n0', good())
    const n1 = await reporting(t, 'n1', good())
    expect((await h.api(t, 'GET', '/nodes?attention=true')).nodes).toEqual([])

    // n1's quota is reached: its store refuses writes; the agent reports it at once
    n1.healthNow!.store.refusedWrites = 3
    await until(async () => (await h.api(t, 'GET', '/nodes?attention=true')).nodes.length > 0, 'attention')
    const { nodes } = await h.api(t, 'GET', '/nodes?attention=true')
    expect(nodes.map((n: { id: string }) => n.id)).toEqual(['n1'])
    expect(nodes[0].health.attention).toEqual(['store-refusing'])
    expect(await metric(t, 'dandelion_tracker_nodes_attention{reason="store-refusing"}')).toBe(1)
    expect(await metric(t, 'dandelion_tracker_nodes_attention{reason="disk-low"}')).toBe(0)

    // its next report shows no new refusal (here the one after a reconnect): cleared
    h.agents[1].disconnect()
    await until(async () => (await h.api(t, 'GET', '/nodes?attention=true')).nodes.length === 0, 'cleared')
    expect((await h.api(t, 'GET', '/nodes/n1')).health.store.refusedWrites).toBe(3)
    expect(await metric(t, 'dandelion_tracker_nodes_attention{reason="store-refusing"}')).toBe(0)
  })

  it('refuses a malformed health report as any bad frame, and keeps nothing of it', {
    timeout: 30_000,
  }, async () => {
    const t = await h.tracker()
    await h.seed(t)
    const key = await generateKeyPair('Ed25519')
    const bad: unknown[] = [
      { ...good(), connections: -1 },
      { ...good(), store: { ...good().store, bytes: '1000' } },
      { ...good(), disk: { freeBytes: 1.5, minFreeBytes: 0 } },
      { ...good(), measuredAt: undefined },
      'not an object',
    ]
    for (const health of bad) {
      const n = await bareNode(t.channelUrl, key, 'n0')
      await until(() => n.frames.some((f) => f.t === 'welcome'), 'welcome')
      n.ws.send(JSON.stringify({ t: 'health', health }))
      expect(await n.closed).toBe(CLOSE_CODES.protocol)
    }
    expect(await h.api(t, 'GET', '/nodes/n0')).not.toHaveProperty('health')
    expect(t.channel.health.size).toBe(0)
  })

  it('keeps only the fields of a report it knows (a newer node may send more)', {
    timeout: 30_000,
  }, async () => {
    const t = await h.tracker()
    await h.seed(t)
    const n = await bareNode(t.channelUrl, await generateKeyPair('Ed25519'), 'n0')
    await until(() => n.frames.some((f) => f.t === 'welcome'), 'welcome')
    const sent = good()
    n.ws.send(JSON.stringify({ t: 'health', health: { ...sent, gpuTemperature: 'x'.repeat(10_000) } }))
    await until(() => t.channel.health.size === 1, 'report kept')
    expect(t.channel.health.get('n0')?.health).toEqual(sent)
    await n.settled()
    expect((await h.api(t, 'GET', '/nodes/n0')).connected).toBe(true)
  })

  it("drops a node's health when the node is deleted", { timeout: 30_000 }, async () => {
    const t = await h.tracker({ dataDir: await h.tmp() })
    await h.seed(t)
    await reporting(t, 'n0', good())
    // offline, it keeps its last report
    await h.agents[0].stop()
    await until(async () => (await h.api(t, 'GET', '/nodes/n0')).connected === false, 'offline')
    expect((await h.api(t, 'GET', '/nodes/n0')).health).toBeDefined()
    await h.api(t, 'DELETE', '/nodes/n0')
    expect(t.channel.health.get('n0')).toBeUndefined()
    // registered again under the same id: nothing of the deleted node's report shows
    await h.api(t, 'POST', '/nodes', { id: 'n0', campus: 'bj-1' })
    expect(await h.api(t, 'GET', '/nodes/n0')).not.toHaveProperty('health')
    expect(await metric(t, 'dandelion_tracker_nodes_health_reported')).toBe(0)
  })

  it('dandelion nodes list shows each reporting node’s health; --attention lists those needing it', {
    timeout: 30_000,
  }, async () => {
    const t = await h.tracker({ viewerToken: 'viewer-token-health' })
    await h.seed(t)
    await reporting(t, 'n0', good())
    const low = good()
    low.disk = { freeBytes: 512 * MiB, minFreeBytes: 1024 * MiB }
    await reporting(t, 'n1', low)
    const common = ['--tracker', t.url, '--token', 'viewer-token-health']

    const all = await captureOutput(() => runNodesCommand(['list', ...common]))
    expect(all.value).toBe(0)
    const lines = all.out.split('\n')
    const under = (id: string) => lines[lines.findIndex((l) => l.startsWith(`${id} `)) + 1]
    expect(under('n0')).toMatch(
      /^ {4}health \d+s ago: store 40\.0 MiB of 1\.0 GiB, disk 19\.5 GiB free \(floor 1\.0 GiB\), scrub clean$/,
    )
    expect(under('n1')).toMatch(
      /disk 512\.0 MiB free \(floor 1\.0 GiB\), scrub clean {2}ATTENTION: disk-low$/,
    )

    // flags alone mean `list`
    const attention = await captureOutput(() => runNodesCommand(['--attention', ...common]))
    expect(attention.value).toBe(0)
    expect(
      attention.out
        .split('\n')
        .filter((l) => /^n\d /.test(l))
        .map((l) => l.split(' ')[0]),
    ).toEqual(['n1'])
    const json = JSON.parse(
      (await captureOutput(() => runNodesCommand(['list', '--attention', '--json', ...common]))).out,
    )
    expect(
      json.map((n: { id: string; health: { attention: string[] } }) => [n.id, n.health.attention]),
    ).toEqual([['n1', ['disk-low']]])
  })
})
