/**
 * Each node's software version, as its hello reports it: shown by `GET /nodes` and counted by
 * version in `/metrics`, so an operator follows a rolling upgrade; updated when a node comes
 * back upgraded. Real tracker and agents.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { createAgent } from '../../node/agent/index.ts'
import { Harness, until } from './harness.ts'
import { http } from './wire.ts'

const h = new Harness()
afterEach(() => h.teardown())

describe('node software versions', () => {
  it('are shown per node and counted by version, and follow an upgrade', { timeout: 30_000 }, async () => {
    const t = await h.tracker({ dataDir: await h.tmp() })
    await h.seed(t)
    const dir = await h.tmp()
    const old = await h.agent([t.channelUrl], 'n0', { campus: 'bj-1', version: '1.2.3', dir })
    const other = await h.agent([t.channelUrl], 'n1', { campus: 'bj-1', version: '1.2.3' })
    // an agent that reports none (older than the field)
    const silent = await h.agent([t.channelUrl], 'n2', { campus: 'bj-1' })
    await until(() => [old, other, silent].every((x) => x.agent.connected))
    const versionOf = async (id: string) => (await http(t, 'GET', `/nodes/${id}`)).body.version
    await until(async () => (await versionOf('n0')) === '1.2.3', 'n0 version')
    expect(await versionOf('n2')).toBeUndefined()
    const metrics = async () => (await http(t, 'GET', '/metrics')).body as string
    expect(await metrics()).toContain('dandelion_tracker_nodes_by_version{version="1.2.3"} 2')
    expect(await metrics()).toContain('dandelion_tracker_nodes_by_version{version="unknown"} 1')

    // n0 upgraded: the same key and journal, a new version
    await old.agent.stop()
    const upgraded = await h.agent([t.channelUrl], 'n0', { key: old.key, dir, version: '1.3.0' })
    await until(() => upgraded.agent.connected)
    await until(async () => (await versionOf('n0')) === '1.3.0', 'n0 upgraded')
    const text = await metrics()
    expect(text).toContain('dandelion_tracker_nodes_by_version{version="1.2.3"} 1')
    expect(text).toContain('dandelion_tracker_nodes_by_version{version="1.3.0"} 1')
    // an operator's change to the node keeps what it reported
    await h.api(t, 'PATCH', '/nodes/n0', { labels: ['lab'] })
    expect(await versionOf('n0')).toBe('1.3.0')
  })

  it('refuses a version the tracker would not take, before connecting', () => {
    expect(() =>
      createAgent(
        { content: {} as never, privateKey: {} as never },
        { trackers: ['ws://127.0.0.1:1/channel'], version: 'x'.repeat(65) },
      ),
    ).toThrow(/version must be 1 to 64 characters/)
  })
})
