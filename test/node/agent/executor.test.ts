import { describe, expect, it, vi } from 'vitest'
import type { Executor } from '../../../node/agent/executor.ts'
import { LevelJournalStore, MemoryJournalStore } from '../../../node/agent/journal.ts'
import type { Command } from '../../../node/agent/protocol.ts'
import { MAX_TIMER_MS } from '../../../node/node-constants.ts'
import { cleanupAfterEach, recordingExecutor } from './helpers.ts'

const executors: Executor[] = []
const { tempDir, openJournal, forget } = cleanupAfterEach({
  // real timers first; executors are stopped without waiting for them
  first: () => {
    vi.useRealTimers()
    for (const e of executors.splice(0)) e.stop()
  },
})

let seq = 0
const cmd = (fields: Partial<Command>): Command => ({
  seq: ++seq,
  id: `cmd-${seq}`,
  op: 'place',
  resource: 'lesson',
  version: 1,
  manifestCid: 'bafy-v1',
  ...fields,
})

/** A memory journal store whose next write fails, as on a full disk. */
class FailingStore extends MemoryJournalStore {
  failNextWrite = false
  override async batch(ops: Parameters<MemoryJournalStore['batch']>[0]): Promise<void> {
    if (this.failNextWrite) {
      this.failNextWrite = false
      throw new Error('disk full')
    }
    await super.batch(ops)
  }
}

async function setup(dir?: string | MemoryJournalStore) {
  let store: LevelJournalStore | MemoryJournalStore
  let d = ''
  if (dir instanceof MemoryJournalStore) store = dir
  else {
    d = dir ?? (await tempDir('agent-journal-'))
    store = new LevelJournalStore(d)
  }
  const journal = await openJournal(store)
  const { content, outcomes, executor } = recordingExecutor(journal)
  executors.push(executor)
  const run = async (c: Command): Promise<void> => {
    await journal.receive(c)
    executor.push({ cmd: c, status: 'received' })
  }
  return { dir: d, journal, content, outcomes, executor, run }
}

const until = async (check: () => boolean): Promise<void> => {
  while (!check()) await new Promise((r) => setTimeout(r, 10))
}

describe('agent executor and journal', () => {
  it('reports a failed fetch with its reason and logs the command once', async () => {
    const { content, outcomes, journal, run } = await setup()
    content.failing.add('bafy-broken')
    await run(cmd({ manifestCid: 'bafy-broken' }))
    await until(() => outcomes.length === 1)
    expect(outcomes[0]).toMatchObject({ status: 'failed', reason: 'cannot fetch bafy-broken' })
    expect(content.table.has('lesson')).toBe(false)
    expect((await journal.applied()).map((a) => a.manifestCid)).toEqual(['bafy-broken'])
  })

  it('places, activates, deactivates and evicts through the content API', async () => {
    const { content, outcomes, run } = await setup()
    await run(cmd({ op: 'place', manifestCid: 'bafy-v1' }))
    await run(cmd({ op: 'place', manifestCid: 'bafy-v2', version: 2 }))
    await run(cmd({ op: 'activate', manifestCid: 'bafy-v1' }))
    await run(cmd({ op: 'deactivate' }))
    await run(cmd({ op: 'evict', manifestCid: 'bafy-v2' }))
    await until(() => outcomes.length === 5)
    expect(outcomes.map((o) => o.status)).toEqual(['active', 'active', 'active', 'done', 'done'])
    expect(content.calls).toEqual([
      'fetch bafy-v1',
      'pin bafy-v1',
      'activate lesson bafy-v1',
      'fetch bafy-v2',
      'pin bafy-v2',
      'activate lesson bafy-v2',
      // the replaced version is let go; a rollback holds and pins it again first
      'unpin bafy-v1',
      'fetch bafy-v1',
      'pin bafy-v1',
      'activate lesson bafy-v1',
      'unpin bafy-v2',
      'deactivate lesson',
      'unpin bafy-v2',
      'evict bafy-v2',
    ])
  })

  it('a newer command cancels a pending activation; a restart resumes unapplied commands', async () => {
    const a = await setup()
    await a.run(cmd({ manifestCid: 'bafy-v2', activateAt: Date.now() + 60_000 }))
    await until(() => a.outcomes.length === 1)
    expect(a.outcomes[0].status).toBe('placed')
    await a.run(cmd({ op: 'activate', manifestCid: 'bafy-v1' }))
    await until(() => a.outcomes.length === 3)
    expect(a.outcomes.slice(1).map((o) => [o.status, o.reason])).toEqual([
      ['failed', 'superseded before activation'],
      ['active', undefined],
    ])
    // received but not applied when the node stops: applied exactly once after the restart
    a.content.gate = new Promise(() => {})
    const pending = cmd({ manifestCid: 'bafy-v3' })
    await a.run(pending)
    await until(() => a.content.calls.includes('fetch bafy-v3'))
    a.executor.stop()
    await a.journal.close()
    forget(a.journal)
    const b = await setup(a.dir)
    await b.executor.resume()
    await until(() => b.outcomes.length === 1)
    expect(b.outcomes[0]).toMatchObject({ status: 'active', cmd: { id: pending.id } })
    expect((await b.journal.applied()).filter((x) => x.id === pending.id)).toHaveLength(1)
  })

  it('reports a command failed when the journal cannot cancel a pending activation, and keeps executing', async () => {
    const store = new FailingStore()
    const { content, outcomes, journal, executor, run } = await setup(store)
    await run(cmd({ manifestCid: 'bafy-v2', activateAt: Date.now() + 60_000 }))
    await until(() => outcomes.length === 1)
    const activate = cmd({ op: 'activate', manifestCid: 'bafy-v1' })
    await journal.receive(activate)
    // superseding the pending activation writes to the journal, and that write fails
    store.failNextWrite = true
    executor.push({ cmd: activate, status: 'received' })
    await until(() => outcomes.length === 2)
    expect(outcomes[1]).toMatchObject({ status: 'failed', reason: 'disk full', cmd: { id: activate.id } })
    expect(content.table.has('lesson')).toBe(false)
    // the failed command superseded nothing: the activation is still pending, and the next command supersedes it
    await run(cmd({ op: 'activate', manifestCid: 'bafy-v3' }))
    await until(() => outcomes.length === 4)
    expect(outcomes.slice(2).map((o) => [o.cmd.manifestCid, o.status, o.reason])).toEqual([
      ['bafy-v2', 'failed', 'superseded before activation'],
      ['bafy-v3', 'active', undefined],
    ])
    expect(content.table.get('lesson')).toBe('bafy-v3')
  })

  it('a rollback aborts the placement still downloading: reported superseded, never named', async () => {
    const { content, outcomes, journal, run } = await setup()
    await run(cmd({ op: 'place', manifestCid: 'bafy-v1' }))
    await until(() => outcomes.length === 1)
    content.gate = new Promise(() => {})
    const place = cmd({ op: 'place', manifestCid: 'bafy-v2', version: 2 })
    await run(place)
    await until(() => content.calls.includes('fetch bafy-v2'))
    content.gate = undefined
    await run(cmd({ op: 'activate', manifestCid: 'bafy-v1' }))
    await until(() => outcomes.length === 3)
    expect(outcomes.slice(1).map((o) => [o.cmd.manifestCid, o.status, o.reason])).toEqual([
      ['bafy-v2', 'failed', 'superseded'],
      ['bafy-v1', 'active', undefined],
    ])
    expect(content.table.get('lesson')).toBe('bafy-v1')
    expect(content.calls).not.toContain('activate lesson bafy-v2')
    // the aborted download is dropped, not kept pinned
    expect(content.calls).toContain('evict bafy-v2')
    expect(content.pinned.has('bafy-v2')).toBe(false)
    expect(content.pinned.has('bafy-v1')).toBe(true)
    expect(await journal.get(place.id)).toMatchObject({ status: 'failed', reason: 'superseded' })
    expect((await journal.queued()).map((q) => q.cmd.id)).not.toContain(place.id)
  })

  it('a deactivate aborts the placement still downloading', async () => {
    const { content, outcomes, run } = await setup()
    content.gate = new Promise(() => {})
    await run(cmd({ op: 'place', manifestCid: 'bafy-v2' }))
    await until(() => content.calls.includes('fetch bafy-v2'))
    await run(cmd({ op: 'deactivate', manifestCid: 'bafy-v2' }))
    await until(() => outcomes.length === 2)
    expect(outcomes.map((o) => [o.cmd.op, o.status, o.reason])).toEqual([
      ['place', 'failed', 'superseded'],
      ['deactivate', 'done', undefined],
    ])
    expect(content.table.has('lesson')).toBe(false)
    expect(content.calls).not.toContain('activate lesson bafy-v2')
  })

  it('a command for another resource leaves the placement downloading', async () => {
    const { content, outcomes, run } = await setup()
    let release = (): void => {}
    content.gate = new Promise((r) => {
      release = r
    })
    await run(cmd({ op: 'place', manifestCid: 'bafy-v2' }))
    await until(() => content.calls.includes('fetch bafy-v2'))
    await run(cmd({ op: 'deactivate', resource: 'other', manifestCid: 'bafy-x' }))
    release()
    await until(() => outcomes.length === 2)
    expect(outcomes.map((o) => o.status)).toEqual(['active', 'done'])
    expect(content.table.get('lesson')).toBe('bafy-v2')
  })

  it('waits for an activation further ahead than one timer can wait', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] })
    const settle = async (check: () => boolean): Promise<void> => {
      while (!check()) await vi.advanceTimersByTimeAsync(1)
    }
    const { content, outcomes, run } = await setup(new MemoryJournalStore())
    const day = 24 * 60 * 60 * 1000
    await run(cmd({ manifestCid: 'bafy-v2', activateAt: Date.now() + 30 * day }))
    await settle(() => outcomes.length >= 1)
    expect(outcomes[0].status).toBe('placed')
    await vi.advanceTimersByTimeAsync(MAX_TIMER_MS)
    expect(outcomes).toHaveLength(1)
    expect(content.table.has('lesson')).toBe(false)
    await vi.advanceTimersByTimeAsync(30 * day - MAX_TIMER_MS)
    await settle(() => outcomes.length === 2)
    expect(outcomes[1].status).toBe('active')
    expect(content.table.get('lesson')).toBe('bafy-v2')
  })

  it('an activation that fires as a newer command of its resource runs does not undo that command', async () => {
    const { content, outcomes, run } = await setup(new MemoryJournalStore())
    await run(cmd({ manifestCid: 'bafy-v1', activateAt: Date.now() + 200 }))
    await until(() => outcomes.length === 1)
    expect(outcomes[0].status).toBe('placed')
    // the activation is due: while it reads the resource's name, a newer placement arrives
    // (a rollout moved on), and the node gives it the time it needs to run
    const get = content.names.get
    let newer: Command | undefined
    content.names.get = (name: string) => {
      if (newer !== undefined) return get(name)
      newer = cmd({ manifestCid: 'bafy-v2' })
      const ran = run(newer).then(() => until(() => outcomes.some((o) => o.cmd.id === newer?.id)))
      const aWhile = new Promise((r) => setTimeout(r, 300))
      return Promise.race([ran, aWhile]).then(() => get(name)) as unknown as string | undefined
    }
    await until(() => outcomes.length === 3)
    // what the node runs is what the tracker was told last: the newer placement, active
    expect(outcomes.at(-1)).toMatchObject({ cmd: { manifestCid: 'bafy-v2' }, status: 'active' })
    expect(content.table.get('lesson')).toBe('bafy-v2')
  })
})
