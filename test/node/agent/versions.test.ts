/**
 * Versions of a resource on a real device through the executor: the version a switch
 * replaces is let go, so a device whose quota holds one version at a time takes the next
 * one, and a rollback fetches the evicted version again.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { Executor } from '../../../node/agent/executor.ts'
import { nodeContentApi } from '../../../node/agent/index.ts'
import { Journal, type JournalRecord, MemoryJournalStore } from '../../../node/agent/journal.ts'
import type { Command, ResourceCommand } from '../../../node/agent/protocol.ts'
import type { Manifest } from '../../../node/content/index.ts'
import type { DandelionNode } from '../../../node/index.ts'
import { addContent, Harness, originKey, randomContent, readAll, until } from '../utils/harness.ts'

const MiB = 1024 * 1024

describe('agent executor on a device with a quota', () => {
  const h = new Harness()
  const executors: Executor[] = []
  afterEach(async () => {
    for (const e of executors.splice(0)) e.stop()
    await h.teardown()
  })

  const holds = async (node: DandelionNode, m: Manifest): Promise<boolean> =>
    (await Promise.all(m.chunks.map(async (c) => await node.store.has(c)))).every(Boolean)

  it('a new version replaces the old one in the quota, and a rollback fetches the old one again', async () => {
    const key = await originKey()
    const seeder = await h.spawn()
    const bytes1 = randomContent(2 * MiB)
    const bytes2 = randomContent(2 * MiB)
    const v1 = await addContent(seeder.store, bytes1, key, { name: 'v1' })
    const v2 = await addContent(seeder.store, bytes2, key, { name: 'v2' })
    for (const m of [v1, v2]) await seeder.seed(m)
    // each version takes more than half the quota: the device holds one at a time
    const device = await h.spawn({ role: 'device', quotaBytes: 3 * MiB })
    await h.connect(device, seeder)

    const journal = new Journal(new MemoryJournalStore())
    await journal.open()
    const outcomes: JournalRecord[] = []
    const executor = new Executor({
      content: nodeContentApi(device),
      journal,
      events: { progress() {}, outcome: (r) => outcomes.push(r) },
    })
    executors.push(executor)
    let seq = 0
    const run = async (
      fields: Pick<ResourceCommand, 'op' | 'manifestCid' | 'version'>,
    ): Promise<JournalRecord> => {
      const cmd: Command = { seq: ++seq, id: `cmd-${seq}`, resource: 'lesson', ...fields }
      await journal.receive(cmd)
      executor.push({ cmd, status: 'received' })
      await until(() => outcomes.some((o) => o.cmd.id === cmd.id))
      return outcomes.find((o) => o.cmd.id === cmd.id)!
    }

    expect(await run({ op: 'place', manifestCid: v1.cid.toString(), version: 1 })).toMatchObject({
      status: 'active',
    })
    expect(await run({ op: 'place', manifestCid: v2.cid.toString(), version: 2 })).toMatchObject({
      status: 'active',
    })
    expect(await device.names.get('lesson')).toBe(v2.cid.toString())
    expect(device.store.isPinned(v2.cid)).toBe(true)
    expect(device.store.isPinned(v1.cid)).toBe(false)
    expect(await holds(device, v2)).toBe(true)
    expect(await holds(device, v1)).toBe(false)

    // rollback: v1 was evicted, so it is fetched again; v2 is let go in turn
    expect(await run({ op: 'activate', manifestCid: v1.cid.toString(), version: 1 })).toMatchObject({
      status: 'active',
    })
    expect(await device.names.get('lesson')).toBe(v1.cid.toString())
    expect(device.store.isPinned(v1.cid)).toBe(true)
    expect(device.store.isPinned(v2.cid)).toBe(false)
    expect(Buffer.from(await readAll(device, v1)).equals(Buffer.from(bytes1))).toBe(true)
    expect(device.store.usage().bytes).toBeLessThanOrEqual(3 * MiB)
  })
})
