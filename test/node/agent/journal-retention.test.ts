/**
 * The journal of a node running for years: command records and the applied log stay
 * within the retention rule however many commands come, and a command pruned from it that
 * the tracker sends again (a tracker restored from an old backup) is not applied twice.
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { Level } from 'level'
import { describe, expect, it } from 'vitest'
import type { Agent } from '../../../node/agent/index.ts'
import type { Command, NodeFrame, ResourceCommand } from '../../../node/agent/protocol.ts'
import { handshake, send, signedCmd, welcomeNext } from './fake-tracker.ts'
import { cleanupAfterEach, until } from './helpers.ts'
import { MemoryContent } from './memory-content.ts'

const { tempDir, startTracker, startAgent, forget } = cleanupAfterEach()

/** Command `i`: placements of seven lessons in turn, every third one a deactivation. */
const command = (i: number): ResourceCommand => ({
  seq: i,
  id: `c-${i}`,
  op: i % 3 === 0 ? 'deactivate' : 'place',
  resource: `lesson-${i % 7}`,
  version: i,
  manifestCid: `bafy-${i}`,
})

/** Keys of the journal's level database on disk, by prefix (`cmd`, `applied`, `queue`, `meta`). */
async function keysOnDisk(dir: string): Promise<Record<string, number>> {
  const db = new Level<string, unknown>(dir, { valueEncoding: 'json' })
  await db.open()
  const counts: Record<string, number> = {}
  for await (const k of db.keys()) {
    const prefix = k.split('!')[0]
    counts[prefix] = (counts[prefix] ?? 0) + 1
  }
  await db.close()
  return counts
}

const outcomeOf = (frames: NodeFrame[], id: string) =>
  frames.filter((f): f is Extract<NodeFrame, { t: 'outcome' }> => f.t === 'outcome' && f.id === id).at(-1)

describe('agent journal retention', () => {
  it('keeps the journal bounded over many commands, and a pruned command sent again is not applied', async () => {
    const dir = await tempDir('agent-retention-')
    const tracker = await startTracker()
    const key: PrivateKey = await generateKeyPair('Ed25519')
    const content = new MemoryContent()
    const keep = 20
    const start = (): Promise<Agent> =>
      startAgent(content, { trackers: [tracker.url], dir, journalKeepFinal: keep }, key)
    const agent = await start()
    const ws = await welcomeNext(tracker)
    const total = 150
    for (let i = 1; i <= total; i++) send(ws, signedCmd(tracker.signer, agent.peerId, command(i)))
    const outcomes = () => new Set(tracker.frames.flatMap((f) => (f.t === 'outcome' ? [f.id] : []))).size
    await until(() => outcomes() === total, `all ${total} outcomes`, 20_000)
    // pruned in the background as commands finish: back within the rule
    await until(async () => (await agent.journal.applied()).length <= keep, `the journal pruned to ${keep}`)
    expect(agent.journal.prunedSeq).toBe(total - keep)

    // a command pruned long ago comes back (a tracker restored from an old backup): the node
    // answers it, says why, and touches nothing
    const calls = content.calls.length
    send(ws, signedCmd(tracker.signer, agent.peerId, command(5)))
    await until(() => outcomeOf(tracker.frames.slice(-2), 'c-5') !== undefined, 'an answer to c-5')
    expect(outcomeOf(tracker.frames, 'c-5')).toMatchObject({ status: 'failed' })
    expect(outcomeOf(tracker.frames, 'c-5')?.reason).toMatch(/older than this node's journal keeps/)
    // a recent one is answered from its record, as before
    const before = tracker.frames.length
    send(ws, signedCmd(tracker.signer, agent.peerId, command(total - 1)))
    await until(() => outcomeOf(tracker.frames.slice(before), `c-${total - 1}`) !== undefined, 'an answer')
    expect(outcomeOf(tracker.frames.slice(before), `c-${total - 1}`)).toMatchObject({ status: 'active' })
    expect(content.calls.length).toBe(calls)

    // on disk: the kept records only, and the floor survives a restart
    await agent.stop()
    forget(agent)
    const counts = await keysOnDisk(dir)
    expect(counts.cmd).toBe(keep)
    expect(counts.applied).toBe(keep)
    expect(counts.queue ?? 0).toBe(0)
    const again = await start()
    const ws2 = await tracker.next()
    const hello = await handshake(ws2, tracker)
    expect(hello.lastSeq).toBe(total)
    const mark = tracker.frames.length
    send(ws2, signedCmd(tracker.signer, again.peerId, command(2)))
    await until(() => outcomeOf(tracker.frames.slice(mark), 'c-2') !== undefined, 'an answer to c-2')
    expect(outcomeOf(tracker.frames.slice(mark), 'c-2')).toMatchObject({ status: 'failed' })
    expect(content.calls.length).toBe(calls)
  })

  it('keeps a placed version waiting for its activation however old it is', async () => {
    const dir = await tempDir('agent-retention-')
    const tracker = await startTracker()
    const content = new MemoryContent()
    const agent = await startAgent(content, { trackers: [tracker.url], dir, journalKeepFinal: 5 })
    const ws = await welcomeNext(tracker)
    // the first command waits for an activation an hour ahead; 40 others come and go
    const placed: Command = { ...command(1), resource: 'assembly', activateAt: Date.now() + 3_600_000 }
    send(ws, signedCmd(tracker.signer, agent.peerId, placed))
    for (let i = 2; i <= 41; i++)
      send(ws, signedCmd(tracker.signer, agent.peerId, { ...command(i), op: 'deactivate' }))
    await until(() => tracker.frames.filter((f) => f.t === 'outcome').length === 41, 'all outcomes')
    await until(async () => (await agent.journal.applied()).length <= 6, 'the journal pruned')
    expect(await agent.journal.get('c-1')).toMatchObject({ status: 'placed' })
    expect((await agent.journal.applied()).map((a) => a.id)).toContain('c-1')
  })
})
