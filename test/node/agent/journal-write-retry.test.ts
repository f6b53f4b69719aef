/**
 * A journal that refuses writes for a while (a full disk): the command's outcome is
 * recorded and reported once the disk takes writes again, without a restart, and the
 * commands behind it run after it. And a command recorded but left out of a full execution
 * queue runs when the tracker sends it again, not at the next start.
 */
import { describe, expect, it } from 'vitest'
import { MAX_EXEC_QUEUE } from '../../../node/agent/executor.ts'
import { Journal, MemoryJournalStore } from '../../../node/agent/journal.ts'
import type { Command, ResourceCommand } from '../../../node/agent/protocol.ts'
import { send, signedCmd, welcomeNext } from './fake-tracker.ts'
import { cleanupAfterEach, until } from './helpers.ts'
import { MemoryContent } from './memory-content.ts'

/** A store whose writes fail while `full`, as on a full disk. */
class FullDisk extends MemoryJournalStore {
  full = false
  refused = 0
  override async batch(ops: Parameters<MemoryJournalStore['batch']>[0]): Promise<void> {
    if (this.full) {
      this.refused++
      throw new Error('ENOSPC: no space left on device')
    }
    await super.batch(ops)
  }
}

const { startTracker, startAgent, startExecutor } = cleanupAfterEach()

const place = (seq: number, manifestCid: string, resource = 'lesson'): ResourceCommand => ({
  seq,
  id: `c-${seq}`,
  op: 'place',
  resource,
  version: seq,
  manifestCid,
})

async function setup() {
  const store = new FullDisk()
  const journal = new Journal(store)
  await journal.open()
  const { content, outcomes, executor } = startExecutor(journal)
  return { store, journal, content, outcomes, executor }
}

describe('agent journal writes refused for a while', () => {
  it('a failed command whose failure the journal refused is reported once the disk frees up', async () => {
    const { store, journal, content, outcomes, executor } = await setup()
    content.failing.add('bafy-broken')
    const broken = place(1, 'bafy-broken')
    const next = place(2, 'bafy-v2', 'other')
    await journal.receive(broken)
    await journal.receive(next)
    store.full = true
    executor.push({ cmd: broken, status: 'received' })
    executor.push({ cmd: next, status: 'received' })
    await until(() => store.refused >= 2, 'the journal refusing the failure twice')
    // nothing behind it runs before it is recorded
    expect(outcomes).toEqual([])
    expect(content.calls).not.toContain('fetch bafy-v2')
    store.full = false
    await until(() => outcomes.length === 2, 'both outcomes once the disk frees up')
    expect(outcomes.map((o) => [o.cmd.id, o.status])).toEqual([
      ['c-1', 'failed'],
      ['c-2', 'active'],
    ])
    expect(await journal.get('c-1')).toMatchObject({ status: 'failed', reason: 'cannot fetch bafy-broken' })
    expect(await journal.queued()).toEqual([])
    expect((await journal.applied()).map((a) => a.id)).toEqual(['c-1', 'c-2'])
  })

  it('an applied command whose outcome the journal refused is recorded once, and the queue goes on', async () => {
    const { store, journal, content, outcomes, executor } = await setup()
    const first = place(1, 'bafy-v1')
    const second = place(2, 'bafy-v2', 'other')
    await journal.receive(first)
    await journal.receive(second)
    // the name switch is the last step: the disk fills up just before its record
    const set = content.names.set
    content.names.set = (name: string, cid: string) => {
      set(name, cid)
      if (cid === 'bafy-v1') store.full = true
    }
    executor.push({ cmd: first, status: 'received' })
    executor.push({ cmd: second, status: 'received' })
    await until(() => store.refused >= 2, 'the journal refusing the outcome twice')
    store.full = false
    await until(() => outcomes.length === 2, 'both outcomes once the disk frees up')
    expect(outcomes.map((o) => [o.cmd.id, o.status])).toEqual([
      ['c-1', 'active'],
      ['c-2', 'active'],
    ])
    expect(content.calls.filter((c) => c === 'activate lesson bafy-v1')).toHaveLength(1)
    expect(await journal.queued()).toEqual([])
  })

  it('a command recorded but left out of the full execution queue runs when the tracker sends it again', async () => {
    const tracker = await startTracker()
    const content = new MemoryContent()
    let release = (): void => {}
    content.gate = new Promise<void>((r) => {
      release = r
    })
    const agent = await startAgent(content, { trackers: [tracker.url] })
    const ws = await welcomeNext(tracker)
    // one download holds the executor while more commands come than its queue takes
    const total = MAX_EXEC_QUEUE + 2
    const cmd = (i: number): Command =>
      i === 1 ? place(1, 'bafy-v1') : { ...place(i, `bafy-${i}`, `r-${i}`), op: 'deactivate' }
    for (let i = 1; i <= total; i++) send(ws, signedCmd(tracker.signer, agent.peerId, cmd(i)))
    const acks = () => tracker.frames.filter((f) => f.t === 'ack').length
    await until(() => acks() === total, 'every command ACKed', 20_000)
    content.gate = undefined
    release()
    const answered = () => new Set(tracker.frames.flatMap((f) => (f.t === 'outcome' ? [f.id] : []))).size
    await until(() => answered() === total - 1, 'all but the deferred one applied', 20_000)
    const last = `c-${total}`
    expect(await agent.journal.get(last)).toMatchObject({ status: 'received' })
    // the tracker sends it again (a retransmit, or the replay of a new connection)
    send(ws, signedCmd(tracker.signer, agent.peerId, cmd(total)))
    await until(() => answered() === total, `${last} applied`)
    expect(await agent.journal.get(last)).toMatchObject({ status: 'done' })
  })
})
