/**
 * A damaged journal on disk: the agent starts anyway (repaired, or anew beside the damaged
 * files, which it keeps), says so, and does not apply again what it applied before; a
 * journal it must not touch (locked by another process) stops the start with a typed error.
 */
import { readdir, readFile, stat, writeFile } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { Level } from 'level'
import { describe, expect, it } from 'vitest'
import { type Agent, createAgent } from '../../../node/agent/index.ts'
import { Journal, type JournalRecord, MemoryJournalStore } from '../../../node/agent/journal.ts'
import type { Command, NodeFrame, ResourceCommand } from '../../../node/agent/protocol.ts'
import { type FakeTracker, handshake, send, signedCmd, welcomeNext } from './fake-tracker.ts'
import { cleanupAfterEach, recordingExecutor, until } from './helpers.ts'
import { MemoryContent } from './memory-content.ts'

const { tempDir, startTracker, startAgent, forget } = cleanupAfterEach()

const place = (seq: number, manifestCid: string): ResourceCommand => ({
  seq,
  id: `c-${seq}`,
  op: 'place',
  resource: 'lesson',
  version: seq,
  manifestCid,
})

const outcomes = (frames: NodeFrame[]) =>
  frames.filter((f): f is Extract<NodeFrame, { t: 'outcome' }> => f.t === 'outcome')

interface Setup {
  parent: string
  dir: string
  tracker: FakeTracker
  key: PrivateKey
  /** What the node holds (its name table and pins): survives the journal's damage. */
  content: MemoryContent
  warnings: string[]
  start(): Promise<Agent>
}

async function setup(): Promise<Setup> {
  const parent = await tempDir('agent-repair-')
  const tracker = await startTracker()
  const s: Setup = {
    parent,
    dir: join(parent, 'agent'),
    tracker,
    key: await generateKeyPair('Ed25519'),
    content: new MemoryContent(),
    warnings: [],
    start: () =>
      startAgent(
        s.content,
        { trackers: [tracker.url], dir: s.dir, reconnectMaxMs: 300, onWarning: (m) => s.warnings.push(m) },
        s.key,
      ),
  }
  return s
}

/** Runs v1 then v2 of the lesson through an agent, then stops it. */
async function applyTwo(s: Setup): Promise<void> {
  const agent = await s.start()
  const ws = await welcomeNext(s.tracker)
  send(ws, signedCmd(s.tracker.signer, agent.peerId, place(1, 'bafy-v1')))
  send(ws, signedCmd(s.tracker.signer, agent.peerId, place(2, 'bafy-v2')))
  await until(() => outcomes(s.tracker.frames).length === 2, 'both outcomes')
  await agent.stop()
  forget(agent)
  expect(s.content.table.get('lesson')).toBe('bafy-v2')
}

/** Files of the journal directory whose names match. */
const filesOf = async (dir: string, pattern: RegExp): Promise<string[]> =>
  (await readdir(dir)).filter((f) => pattern.test(f)).map((f) => join(dir, f))

/** The copies of the damaged journal kept beside it. */
const kept = async (dir: string): Promise<string[]> =>
  (await readdir(dirname(dir))).filter((f) => f.startsWith(`${basename(dir)}.damaged-`))

describe('agent journal repair', () => {
  it('a garbled CURRENT and MANIFEST: repaired with every record, nothing applied again', async () => {
    const s = await setup()
    await applyTwo(s)
    await writeFile(join(s.dir, 'CURRENT'), 'garbage\n')
    for (const f of await filesOf(s.dir, /^MANIFEST-/)) await writeFile(f, Buffer.alloc(300, 0x5a))

    const agent = await s.start()
    // the operator is told, and the files as they were are kept
    expect(s.warnings).toHaveLength(1)
    const warning = JSON.parse(s.warnings[0]) as { event: string; kept: string; fresh: boolean }
    expect(warning).toMatchObject({ event: 'agent-journal-damaged', fresh: false })
    expect(await kept(s.dir)).toEqual([basename(warning.kept)])
    expect(await readFile(join(warning.kept, 'CURRENT'), 'utf8')).toBe('garbage\n')
    // every record came through the repair
    expect((await agent.journal.applied()).map((a) => a.id)).toEqual(['c-1', 'c-2'])
    const ws = await s.tracker.next()
    expect((await handshake(ws, s.tracker)).lastSeq).toBe(2)
    const calls = s.content.calls.length
    const mark = s.tracker.frames.length
    send(ws, signedCmd(s.tracker.signer, agent.peerId, place(2, 'bafy-v2')))
    send(ws, signedCmd(s.tracker.signer, agent.peerId, place(1, 'bafy-v1')))
    await until(() => outcomes(s.tracker.frames.slice(mark)).length === 2, 'both answered')
    expect(s.content.calls.length).toBe(calls)
    expect(s.content.table.get('lesson')).toBe('bafy-v2')
  })

  it('a garbage write-ahead log: noticed, started anew, and what the node serves is not applied again', async () => {
    const s = await setup()
    await applyTwo(s)
    const logs = await filesOf(s.dir, /\.log$/)
    expect(logs.length).toBeGreaterThan(0)
    // leveldb opens such a journal without a word, empty, and deletes the log
    for (const f of logs) await writeFile(f, Buffer.alloc((await stat(f)).size, 0x5a))

    const agent = await s.start()
    const ws = await welcomeNext(s.tracker)
    // the tracker never got v2's outcome and sends it again: the node serves v2 already
    const calls = s.content.calls.length
    send(ws, signedCmd(s.tracker.signer, agent.peerId, place(2, 'bafy-v2')))
    await until(() => outcomes(s.tracker.frames).length === 3, 'the answer to c-2')
    expect(outcomes(s.tracker.frames).at(-1)).toMatchObject({ id: 'c-2', status: 'active' })
    expect(s.content.calls.slice(calls)).toEqual([])
    // the operator is told, and the garbage is kept as it was
    expect(s.warnings).toHaveLength(1)
    const warning = JSON.parse(s.warnings[0]) as { event: string; kept: string; fresh: boolean }
    expect(warning).toMatchObject({ event: 'agent-journal-damaged', fresh: true })
    for (const f of logs)
      expect((await readFile(join(warning.kept, basename(f)))).every((b) => b === 0x5a)).toBe(true)
    // a new command is applied as usual
    send(ws, signedCmd(s.tracker.signer, agent.peerId, place(3, 'bafy-v3')))
    await until(() => outcomes(s.tracker.frames).length === 4, 'the outcome of c-3')
    expect(s.content.table.get('lesson')).toBe('bafy-v3')
    expect(s.content.calls.slice(calls)).toEqual([
      'fetch bafy-v3',
      'pin bafy-v3',
      'activate lesson bafy-v3',
      'unpin bafy-v2',
    ])
    // the connection stayed up past the replay: the recovery is over, and stays over
    await until(() => agent.journal.recovery === undefined, 'the recovery ended')
    await agent.stop()
    forget(agent)
    const again = await s.start()
    expect(again.journal.recovery).toBeUndefined()
    expect(s.warnings).toHaveLength(1)
  })

  it('a garbled table: repaired at start, not failed at the first read', async () => {
    const s = await setup()
    await applyTwo(s)
    // a second start moves the write-ahead log into a table
    const between = await s.start()
    await between.stop()
    forget(between)
    const tables = await filesOf(s.dir, /\.ldb$/)
    expect(tables.length).toBeGreaterThan(0)
    for (const f of tables) await writeFile(f, Buffer.alloc((await stat(f)).size, 0x5a))

    const agent = await s.start()
    const ws = await welcomeNext(s.tracker)
    const calls = s.content.calls.length
    const mark = s.tracker.frames.length
    send(ws, signedCmd(s.tracker.signer, agent.peerId, place(2, 'bafy-v2')))
    await until(() => outcomes(s.tracker.frames.slice(mark)).length === 1, 'the answer to c-2')
    expect(outcomes(s.tracker.frames.slice(mark))).toMatchObject([{ id: 'c-2', status: 'active' }])
    expect(s.content.calls.slice(calls)).toEqual([])
    expect(s.warnings.map((w) => JSON.parse(w) as { event: string })).toMatchObject([
      { event: 'agent-journal-damaged' },
    ])
  })

  it('a journal another process holds is left alone: JournalOpenError with the cause', async () => {
    const s = await setup()
    await applyTwo(s)
    const other = new Level(s.dir)
    await other.open()
    try {
      const agent = createAgent(
        { content: s.content, privateKey: s.key },
        { trackers: [s.tracker.url], dir: s.dir, onWarning: (m) => s.warnings.push(m) },
      )
      const err = await agent.start().then(
        () => undefined,
        (e: unknown) => e as Error & { code?: string; cause?: { code?: string; cause?: { code?: string } } },
      )
      expect(err).toMatchObject({ name: 'JournalOpenError', code: 'ERR_AGENT_JOURNAL_OPEN' })
      expect(err?.message).toContain(s.dir)
      expect(err?.cause?.cause?.code ?? err?.cause?.code).toBe('LEVEL_LOCKED')
      expect(await kept(s.dir)).toEqual([])
      expect(s.warnings).toEqual([])
    } finally {
      await other.close()
    }
    // and once it is free, the journal is there as it was
    const agent = await s.start()
    expect((await agent.journal.applied()).map((a) => a.id)).toEqual(['c-1', 'c-2'])
    expect(await readdir(s.parent)).toEqual(['agent'])
  })

  it('while recovering, a command older than one the repair kept, or an evict of what is served, is not applied', async () => {
    /** A journal whose files were repaired: it kept v2's command, lost v1's. */
    class Repaired extends MemoryJournalStore {
      damage = { reason: 'LEVEL_CORRUPTION test; repaired', fresh: false }
    }
    const store = new Repaired()
    const journal = new Journal(store)
    await journal.open()
    await journal.receive(place(2, 'bafy-v2'))
    await journal.update({ cmd: place(2, 'bafy-v2'), status: 'active' }, true)
    const content = new MemoryContent()
    content.table.set('lesson', 'bafy-v2')
    const { executor, outcomes: done } = recordingExecutor(journal, content)
    try {
      // what the agent does with a command it receives: recorded, then executed as recorded
      const receive = async (c: Command): Promise<JournalRecord> =>
        (await journal.receive(c)) ?? { cmd: c, status: 'received' }
      executor.push(await receive(place(1, 'bafy-v1')))
      executor.push(await receive({ ...place(3, 'bafy-v2'), op: 'evict' }))
      await until(() => done.length === 2, 'both answered')
      expect(done.map((r) => [r.cmd.id, r.status])).toEqual([
        ['c-1', 'failed'],
        ['c-3', 'failed'],
      ])
      expect(done[0].reason).toMatch(/superseded: this node applied command c-2/)
      expect(done[1].reason).toMatch(/bafy-v2 is served or waiting for its activation here/)
      expect(content.calls).toEqual([])
      expect(journal.recovery).toMatchObject({ reason: 'LEVEL_CORRUPTION test; repaired' })
    } finally {
      await executor.stop()
      await journal.close()
    }
  })
})
