/**
 * The journal across restarts: every command received is applied after a crash, even two
 * under one sequence number, and `lastSeq` only ever says what is on disk.
 */
import { describe, expect, it } from 'vitest'
import { Journal, LevelJournalStore, MemoryJournalStore } from '../../../node/agent/journal.ts'
import type { Command } from '../../../node/agent/protocol.ts'
import { cleanupAfterEach, until } from './helpers.ts'

const { tempDir, openJournal, startExecutor, forget } = cleanupAfterEach()

const cmd = (seq: number, id: string, manifestCid: string, resource = 'lesson'): Command => ({
  seq,
  id,
  op: 'place',
  resource,
  version: seq,
  manifestCid,
})

/** The journal in `dir`, opened; closed after the test. */
const open = (dir: string): Promise<Journal> => openJournal(new LevelJournalStore(dir))

describe('agent journal durability', () => {
  it('applies after a restart every command received under one sequence number', async () => {
    const dir = await tempDir('agent-journal-')
    const first = await open(dir)
    // two commands reached the node under the same number (a tracker restored from an
    // older copy of its state reissued it), and the node was killed before applying either
    await first.receive(cmd(7, 'a', 'bafy-a', 'math'))
    await first.receive(cmd(7, 'b', 'bafy-b', 'art'))
    await first.close()
    forget(first)

    const journal = await open(dir)
    const { content, outcomes, executor } = startExecutor(journal)
    await executor.resume()
    await until(() => outcomes.length === 2, 'both commands applied')
    expect(outcomes.map((o) => [o.cmd.id, o.status]).sort()).toEqual([
      ['a', 'active'],
      ['b', 'active'],
    ])
    expect(content.table.get('math')).toBe('bafy-a')
    expect(content.table.get('art')).toBe('bafy-b')
    expect(await journal.queued()).toEqual([])
  })

  it('applying one of two commands under one number leaves the other queued', async () => {
    const dir = await tempDir('agent-journal-')
    const journal = await open(dir)
    const a = cmd(3, 'a', 'bafy-a')
    const b = cmd(3, 'b', 'bafy-b')
    await journal.receive(a)
    await journal.receive(b)
    await journal.update({ cmd: a, status: 'active' }, true)
    expect((await journal.queued()).map((r) => r.cmd.id)).toEqual(['b'])
  })

  it('takes up a queue written before it was keyed by id, and empties it as commands apply', async () => {
    const store = new MemoryJournalStore()
    const a = cmd(3, 'a', 'bafy-a')
    // the previous version's layout: queue!<seq> → id
    await store.batch([
      { type: 'put', key: 'cmd!a', value: { cmd: a, status: 'received' } },
      { type: 'put', key: 'queue!000000000003', value: 'a' },
      { type: 'put', key: 'meta!lastSeq', value: 3 },
    ])
    const journal = new Journal(store)
    await journal.open()
    expect((await journal.queued()).map((r) => r.cmd.id)).toEqual(['a'])
    await journal.update({ cmd: a, status: 'active' }, true)
    expect(await journal.queued()).toEqual([])
  })

  it('does not raise lastSeq when the receipt could not be written', async () => {
    /** A store whose writes fail, as on a full disk. */
    class FullDisk extends MemoryJournalStore {
      full = false
      override async batch(ops: Parameters<MemoryJournalStore['batch']>[0]): Promise<void> {
        if (this.full) throw new Error('disk full')
        await super.batch(ops)
      }
    }
    const store = new FullDisk()
    const journal = new Journal(store)
    await journal.open()
    await journal.receive(cmd(4, 'a', 'bafy-a'))
    store.full = true
    await expect(journal.receive(cmd(5, 'b', 'bafy-b'))).rejects.toThrow('disk full')
    // the next hello says 4: the tracker must not take command 5 for received (an abort
    // that withdrew it would otherwise send it back as "the node had it")
    expect(journal.lastSeq).toBe(4)
  })
})
