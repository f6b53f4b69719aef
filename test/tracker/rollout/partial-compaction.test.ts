/**
 * Partial compaction (`tracker/rollout/retention.ts`): a finished, quiet release is compacted
 * even while some of its nodes hold it open (a command still queued, a withdrawal to tell);
 * those keep their states, answer on them, and are folded in by a later pass, or once they
 * are deleted. Counts, members and A/B sides stay what they were; a release is deleted only
 * once no node state is left on it. On the state itself, with the sweeper's own pass.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { recordOutcome } from '../../../tracker/rollout/outcomes.ts'
import { hashedVariant, variantFor } from '../../../tracker/rollout/reconcile.ts'
import { dueForCompaction, retiredReleases } from '../../../tracker/rollout/retention.ts'
import { releaseStatus } from '../../../tracker/rollout/status.ts'
import { ReleaseSweeper } from '../../../tracker/rollout/sweeper.ts'
import type { TrackerState } from '../../../tracker/state/index.ts'
import type { Release } from '../../../tracker/state/releases.ts'
import { cleanUp, compact, node, onDisk, put, RETENTION, release, reopen } from './retention-fixture.ts'

afterEach(cleanUp)

const due = (state: TrackerState, id: string, now = RETENTION): boolean =>
  dueForCompaction(state, state.releases.get(id), now, RETENTION)

/** What the status shows of every node, held and folded alike. */
const COUNTED = ['counts', 'stages', 'variants', 'campuses', 'cities', 'timedOut', 'late', 'bytes'] as const
const counted = (
  state: TrackerState,
  id: string,
  keys: readonly string[] = COUNTED,
): Record<string, unknown> => {
  const s = releaseStatus(state, id) as unknown as Record<string, unknown>
  return Object.fromEntries(keys.map((k) => [k, s[k]]))
}

/** Cities bj and sh, campuses c1 (bj) and c2 (sh), and nodes `ids` alternately in each. */
async function inventory(state: TrackerState, ids: string[]): Promise<void> {
  const tx = state.tx()
  state.inventory.putCity(tx, { id: 'bj', name: 'Beijing' })
  state.inventory.putCity(tx, { id: 'sh', name: 'Shanghai' })
  state.inventory.putCampus(tx, { id: 'c1', city: 'bj', name: 'one' })
  state.inventory.putCampus(tx, { id: 'c2', city: 'sh', name: 'two' })
  for (const [i, id] of ids.entries())
    state.inventory.putNode(tx, { id, campus: i % 2 ? 'c2' : 'c1', labels: [] })
  await tx.commit()
}

/** A `place` of `r` queued for `nodeId` (offline: it stays queued); resolves with its id. */
async function queued(state: TrackerState, r: Release, nodeId: string): Promise<string> {
  const tx = state.tx()
  const cmd = state.outbox.enqueue(tx, nodeId, {
    op: 'place',
    resource: r.resource,
    version: r.version,
    manifestCid: r.manifestCid,
    releaseId: r.id,
  })
  await tx.commit()
  return cmd.id
}

/** `nodeId` reports `active` on its queued command, as the channel records it. */
async function answers(state: TrackerState, nodeId: string, cmdId: string): Promise<void> {
  const e = state.outbox.byCommand(cmdId)!
  const tx = state.tx()
  state.outbox.ack(tx, nodeId, e.cmd.seq, e.cmd.id)
  recordOutcome({ state, deadlines: { schedule: () => {} }, announce: () => {} }, tx, nodeId, e.cmd, {
    status: 'active',
  })
  state.outbox.outcome(tx, nodeId, cmdId, 'active')
  await tx.commit()
}

describe('partial compaction', () => {
  it('folds every node but the one whose command is still queued, which answers later and is folded then', async () => {
    let { dir, state } = await onDisk()
    const ids = ['n0', 'n1', 'n2', 'n3', 'n4', 'n5', 'off']
    await inventory(state, ids)
    const r = release('ab', {
      ab: { version: 2, manifestCid: 'bafy-b', percent: 50 },
      targets: { campuses: ['c1', 'c2'] },
      total: ids.length,
      result: { outcome: 'partial', active: 5, failed: 2, timedOut: 1 },
    })
    // n0 on the side its hash does not give it; `off` timed out, its command still queued
    const side = (id: string): 'A' | 'B' =>
      id === 'n0' ? (hashedVariant(r, id) === 'A' ? 'B' : 'A') : hashedVariant(r, id)
    const cmdId = await queued(state, r, 'off')
    await put(state, r, [
      ...ids.slice(0, 5).map((id) => node(id, { variant: side(id), peerBytes: 10, originBytes: 1 })),
      node('n5', { variant: side('n5'), state: 'failed', reason: 'disk full' }),
      node('off', {
        variant: side('off'),
        state: 'failed',
        reason: 'timeout',
        timedOutAt: 0,
        cmdId,
        percent: 0,
      }),
    ])
    const before = counted(state, 'ab')
    const sides = (s: TrackerState): string[] =>
      [...ids, 'stranger'].map((id) => variantFor(s, s.releases.get('ab'), id))
    const sidesBefore = sides(state)

    expect(due(state, 'ab')).toBe(true)
    expect(await compact(state, 'ab')).toBe(6)
    const check = (s: TrackerState): void => {
      expect(s.releases.get('ab').compacted).toMatchObject({ nodes: 6, counts: { active: 5, failed: 1 } })
      expect([...(s.releases.nodes.get('ab')?.keys() ?? [])]).toEqual(['off'])
      expect(s.releases.membersOf('ab')).toEqual({ ids: ids.slice(0, 6), flipped: ['n0'] })
      for (const id of ids) expect(s.releases.isMember('ab', id), id).toBe(true)
      expect(sides(s)).toEqual(sidesBefore)
      expect(counted(s, 'ab')).toEqual(before)
      expect(releaseStatus(s, 'ab').compacted).toEqual({ at: RETENTION, nodes: 6, held: 1 })
    }
    check(state)
    // nothing more to fold while it holds: no pass writes the release again
    expect(due(state, 'ab', 10 * RETENTION)).toBe(false)
    state = await reopen(state, dir)
    check(state)

    // `off` comes back and answers on its kept state: recorded, then folded in
    await answers(state, 'off', cmdId)
    expect(state.releases.get('ab').result).toMatchObject({ active: 6, failed: 1, timedOut: 0 })
    const answered = counted(state, 'ab')
    expect(answered.counts).toMatchObject({ active: 6, failed: 1 })
    expect(due(state, 'ab')).toBe(true)
    expect(await compact(state, 'ab', 2 * RETENTION)).toBe(1)
    expect(state.releases.nodes.has('ab')).toBe(false)
    expect(state.releases.membersOf('ab')?.ids).toEqual(ids)
    expect(sides(state)).toEqual(sidesBefore)
    expect(counted(state, 'ab')).toEqual(answered)
    expect(releaseStatus(state, 'ab').compacted).toEqual({ at: RETENTION, nodes: 7, held: 0 })
    await state.close()
  })

  it('keeps the members of a completed release no node got yet while a node is held: its outcome may put it in force', async () => {
    const { state } = await onDisk()
    await inventory(state, ['n0', 'n1', 'off'])
    const r = release('r', { total: 3, result: { outcome: 'failed', active: 0, failed: 3, timedOut: 1 } })
    const cmdId = await queued(state, r, 'off')
    await put(state, r, [
      node('n0', { state: 'failed' }),
      node('n1', { state: 'failed' }),
      node('off', { state: 'failed', reason: 'timeout', timedOutAt: 0, cmdId }),
    ])
    expect(await compact(state, 'r')).toBe(2)
    await answers(state, 'off', cmdId)
    expect(await compact(state, 'r', 2 * RETENTION)).toBe(1)
    // in force now: n0 and n1 failed in it, and reconciliation leaves them alone, as it did
    // before compaction
    expect(state.releases.membersOf('r')?.ids).toEqual(['n0', 'n1', 'off'])
    await state.close()
  })

  it('lets a release finish compacting once a held node is deleted or told of its withdrawal, and deletes it only then', async () => {
    let { dir, state } = await onDisk()
    await inventory(state, ['n0', 'w1', 'w2'])
    // aborted: its command to w1 and w2 was withdrawn while they were offline
    const r = release('gone', {
      status: 'aborted',
      total: 3,
      result: { outcome: 'partial', active: 1, failed: 0, timedOut: 0, withdrawn: 2 },
    })
    const withdrawn = (id: string, seq: number) =>
      node(id, { state: 'withdrawn', cmdId: `c-${id}`, withdrawnAt: 0, withdrawnSeq: seq, percent: 0 })
    await put(state, r, [node('n0'), withdrawn('w1', 1), withdrawn('w2', 1)])
    // a release that decides, so that there is more than the sweeper keeps
    await put(state, release('keep', { createdAt: 1, finishedAt: 5 * RETENTION }), [node('n0')])
    const before = counted(state, 'gone')
    const sweeper = new ReleaseSweeper({ state }, { retentionMs: RETENTION, keepReleases: 0 })

    expect(await sweeper.sweep({ now: RETENTION })).toMatchObject({ compacted: 1, nodes: 1, deleted: 0 })
    expect(state.releases.get('gone').compacted).toMatchObject({ nodes: 1 })
    expect(counted(state, 'gone')).toEqual(before)
    // it decides nothing, and more releases are kept than wanted: still not deleted, the
    // hellos of w1 and w2 have yet to tell
    expect(retiredReleases(state)).toEqual([])
    expect(await sweeper.sweep({ now: 2 * RETENTION })).toMatchObject({ compacted: 0, deleted: 0 })
    state = await reopen(state, dir)

    // w2 is deleted: nothing of it is to come
    let tx = state.tx()
    state.deleteNode(tx, 'w2')
    await tx.commit()
    // counted where it is now (no campus) until folded, then where it was when folded
    const deleted = counted(state, 'gone')
    const again = new ReleaseSweeper({ state }, { retentionMs: RETENTION, keepReleases: 0 })
    expect(await again.sweep({ now: 3 * RETENTION })).toMatchObject({ compacted: 1, nodes: 1, deleted: 0 })
    expect([...(state.releases.nodes.get('gone')?.keys() ?? [])]).toEqual(['w1'])
    expect(counted(state, 'gone')).toEqual(deleted)
    // w1's hello says it never got the command (`withdraw.ts`): the withdrawal is told
    tx = state.tx()
    state.releases.putNode(tx, 'gone', {
      ...state.releases.nodes.get('gone')!.get('w1')!,
      withdrawnSeq: undefined,
    })
    await tx.commit()
    expect(await again.sweep({ now: 4 * RETENTION })).toMatchObject({ compacted: 1, nodes: 1, deleted: 1 })
    expect(state.releases.releases.has('gone')).toBe(false)
    expect(state.releases.releases.has('keep')).toBe(true)
    await state.close()
  })

  it('folds what a release compacted before this change holds, its stored summary as that left it', async () => {
    const { state } = await onDisk()
    await inventory(state, ['n0', 'late', 'off'])
    await put(state, release('old', { total: 1 }), [node('n0')])
    await compact(state, 'old')
    // as a tracker before campuses and cities were kept left it, then two late members:
    // one answered, one offline with its command queued
    const { campuses: _c, cities: _t, ...summary } = state.releases.get('old').compacted!
    const r = { ...state.releases.get('old'), compacted: summary, total: 3, joined: 2 }
    const cmdId = await queued(state, r, 'off')
    await put(state, r, [
      node('late', { joinedAt: 10 }),
      node('off', { state: 'pending', cmdId, joinedAt: 10, percent: 0 }),
    ])
    // per campus and city it counts only the nodes it holds, as before this change
    const keys = COUNTED.filter((k) => k !== 'campuses' && k !== 'cities')
    const before = counted(state, 'old', keys)
    expect(due(state, 'old', RETENTION + 10)).toBe(true)
    expect(await compact(state, 'old', RETENTION + 10)).toBe(1)
    expect(counted(state, 'old', keys)).toEqual(before)
    expect(releaseStatus(state, 'old').campuses).toEqual({
      c1: expect.objectContaining({ pending: 1, active: 0 }),
    })
    expect(releaseStatus(state, 'old').compacted).toEqual({ at: RETENTION, nodes: 2, held: 1 })
    expect(state.releases.get('old').compacted?.campuses).toBeUndefined()
    expect(state.releases.membersOf('old')?.ids).toEqual(['late', 'n0'])
    expect(state.releases.isMember('old', 'off')).toBe(true)
    await state.close()
  })
})
