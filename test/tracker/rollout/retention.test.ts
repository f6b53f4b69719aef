/**
 * The retention rule on the state itself (`tracker/rollout/retention.ts`): which node states
 * hold a release open, the A/B sides a compacted release keeps (those its hash would not
 * give included, chosen here), what deleting a node does to it, and which compacted
 * releases decide nothing any more.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { hashedVariant, variantFor } from '../../../tracker/rollout/reconcile.ts'
import { dueForCompaction, retiredReleases } from '../../../tracker/rollout/retention.ts'
import type { ReleaseTargets } from '../../../tracker/rollout/select.ts'
import { releaseStatus } from '../../../tracker/rollout/status.ts'
import { TrackerState } from '../../../tracker/state/index.ts'
import type { Release } from '../../../tracker/state/releases.ts'
import { cleanUp, compact, node, onDisk, put, RETENTION, release } from './retention-fixture.ts'

afterEach(cleanUp)

const other = (side: 'A' | 'B'): 'A' | 'B' => (side === 'A' ? 'B' : 'A')

describe('a compacted release', () => {
  it('keeps each member’s A/B side, the ones its hash would not give included, across a restart', async () => {
    let { dir, state } = await onDisk()
    const r = release('ab', { ab: { version: 2, manifestCid: 'bafy-b', percent: 50 } })
    const ids = Array.from({ length: 20 }, (_, i) => `x${String(i).padStart(2, '0')}`)
    // the first five on the side the hash does not give them (as `assignVariants` does to a
    // few members near the threshold)
    const sides = new Map(
      ids.map((id, i) => [id, i < 5 ? other(hashedVariant(r, id)) : hashedVariant(r, id)]),
    )
    await put(
      state,
      r,
      ids.map((id) => node(id, { variant: sides.get(id)! })),
    )
    expect(await compact(state, 'ab')).toBe(20)
    const check = (s: TrackerState): void => {
      const rel = s.releases.get('ab')
      expect(s.releases.nodes.has('ab')).toBe(false)
      for (const id of ids) {
        expect(variantFor(s, rel, id), id).toBe(sides.get(id))
        expect(s.releases.isMember('ab', id)).toBe(true)
      }
      // a node that is no member gets what the hash gives it
      expect(variantFor(s, rel, 'y')).toBe(hashedVariant(rel, 'y'))
      expect(s.releases.isMember('ab', 'y')).toBe(false)
      expect(s.releases.membersOf('ab')).toEqual({ ids, flipped: ids.slice(0, 5) })
      // one copy, shared by the readers
      expect(s.committed.releases.membersOf('ab')).toBe(s.releases.membersOf('ab'))
      expect(s.releases.get('ab').compacted).toMatchObject({ nodes: 20, counts: { active: 20 } })
    }
    check(state)
    await state.close()
    state = new TrackerState(dir)
    await state.open()
    check(state)
    await state.close()
  })

  it('counts per campus and city where its nodes were when folded, across a restart', async () => {
    let { dir, state } = await onDisk()
    let tx = state.tx()
    state.inventory.putCity(tx, { id: 'bj', name: 'Beijing' })
    state.inventory.putCity(tx, { id: 'sh', name: 'Shanghai' })
    state.inventory.putCampus(tx, { id: 'c1', city: 'bj', name: 'one' })
    state.inventory.putCampus(tx, { id: 'c2', city: 'sh', name: 'two' })
    for (const [id, campus] of [
      ['n1', 'c1'],
      ['n2', 'c1'],
      ['n3', 'c2'],
    ])
      state.inventory.putNode(tx, { id, campus, labels: [] })
    await tx.commit()
    // n4: a node no longer in the inventory
    await put(state, release('r1', { total: 4 }), [
      node('n1'),
      node('n2', { state: 'failed', reason: 'disk full' }),
      node('n3'),
      node('n4'),
    ])
    const before = releaseStatus(state, 'r1')
    await compact(state, 'r1')
    expect(state.releases.nodes.has('r1')).toBe(false)
    const want = {
      campuses: { c1: { active: 1, failed: 1 }, c2: { active: 1 }, '(none)': { active: 1 } },
      cities: { bj: { active: 1, failed: 1 }, sh: { active: 1 }, '(none)': { active: 1 } },
    }
    expect(state.releases.get('r1').compacted).toMatchObject(want)
    expect(releaseStatus(state, 'r1').campuses).toEqual(before.campuses)
    expect(releaseStatus(state, 'r1').cities).toEqual(before.cities)
    // moved since: the folded counts say where it was
    tx = state.tx()
    state.inventory.putNode(tx, { id: 'n1', campus: 'c2', labels: [] })
    await tx.commit()
    await state.close()
    state = new TrackerState(dir)
    await state.open()
    expect(state.releases.get('r1').compacted).toMatchObject(want)
    expect(releaseStatus(state, 'r1').campuses).toEqual(before.campuses)
    await state.close()
  })

  it('adds no campus or city counts to a summary made before they were kept', async () => {
    const { state } = await onDisk()
    await put(state, release('r1'), [node('n1')])
    await compact(state, 'r1')
    // as a tracker before this change left it
    const { campuses: _c, cities: _t, ...old } = state.releases.get('r1').compacted!
    await put(state, { ...state.releases.get('r1'), compacted: old }, [node('late', { joinedAt: 1 })])
    await compact(state, 'r1', 2 * RETENTION)
    const summary = state.releases.get('r1').compacted!
    expect(summary).toMatchObject({ nodes: 2, counts: { active: 2 } })
    // counts of the late member alone would pass for the whole release's
    expect(summary.campuses).toBeUndefined()
    expect(summary.cities).toBeUndefined()
    expect(releaseStatus(state, 'r1').campuses).toEqual({})
    await state.close()
  })

  it('no longer counts a deleted node among its members, and the node’s versions are forgotten', async () => {
    const { state } = await onDisk()
    await put(state, release('r1'), [node('n1'), node('n2')])
    await compact(state, 'r1')
    const tx = state.tx()
    state.releases.setCurrent(tx, 'n1', 'lesson', { version: 1, manifestCid: 'bafy-a', releaseId: 'r1' })
    // a resource no release of which is kept any more
    state.releases.setCurrent(tx, 'n1', 'gone', { version: 4, manifestCid: 'bafy-g' })
    state.releases.nodeDeleted(tx, 'n1', new Set())
    await tx.commit()
    expect(state.releases.isMember('r1', 'n1')).toBe(false)
    expect(state.releases.membersOf('r1')?.ids).toEqual(['n2'])
    expect(state.releases.currentOf('n1', 'lesson')).toBeUndefined()
    expect(state.releases.currentOf('n1', 'gone')).toBeUndefined()
    await state.close()
  })
})

describe('what holds a release open', () => {
  it('is a node state still unanswered, withdrawn and not yet told about, or with its command still queued', async () => {
    const { state } = await onDisk()
    const due = (id: string, now = RETENTION): boolean =>
      dueForCompaction(state, state.releases.get(id), now, RETENTION)
    await put(state, release('ok', { status: 'aborted' }), [node('a'), node('w', { state: 'waiting' })])
    expect(due('ok')).toBe(true)
    expect(due('ok', RETENTION - 1)).toBe(false)

    await put(state, release('rb', { status: 'rolled_back' }), [
      node('a', { state: 'reverting', cmdId: 'c' }),
    ])
    expect(due('rb')).toBe(false)

    const withdrawn = node('a', { state: 'withdrawn', cmdId: 'c', withdrawnAt: 0, withdrawnSeq: 3 })
    await put(state, release('wd', { status: 'aborted' }), [withdrawn])
    expect(due('wd')).toBe(false)
    // the machine was deleted: its commands went with it
    await put(state, release('wd', { status: 'aborted' }), [{ ...withdrawn, deletedAt: 1 }])
    expect(due('wd')).toBe(true)

    // past its outcome deadline, its command still queued: it may yet report
    const tx = state.tx()
    const cmd = state.outbox.enqueue(tx, 'late', {
      op: 'place',
      resource: 'lesson',
      version: 1,
      manifestCid: 'm',
    })
    await tx.commit()
    const timedOut = node('late', { state: 'failed', reason: 'timeout', timedOutAt: 0, cmdId: cmd.id })
    await put(state, release('to'), [timedOut])
    expect(due('to')).toBe(false)
    const tx2 = state.tx()
    state.outbox.outcome(tx2, 'late', cmd.id, 'active')
    await tx2.commit()
    expect(due('to')).toBe(true)

    // a late member joined at 500: quiet since then
    await put(state, release('lm'), [node('a'), node('b', { joinedAt: 500 })])
    expect(due('lm', RETENTION + 499)).toBe(false)
    expect(due('lm', RETENTION + 500)).toBe(true)

    await put(state, release('run', { status: 'running' }), [node('a')])
    expect(due('run', 10 * RETENTION)).toBe(false)
    await state.close()
  })
})

describe('a compacted release that decides nothing any more', () => {
  it('is not in force, or has every target covered by newer compacted releases in force', async () => {
    let { dir, state } = await onDisk()
    let at = 0
    /** A release of `resource` to `targets`, created after the ones before, completed and compacted. */
    const add = async (
      id: string,
      resource: string,
      targets: ReleaseTargets,
      extra: Partial<Release> = {},
      compacted = true,
    ): Promise<void> => {
      await put(state, release(id, { resource, targets, createdAt: at++, ...extra }), [node(`${id}-n`)])
      if (compacted) await compact(state, id)
    }
    // a city covers the city it names, with the others
    await add('c-old', 'a', { cities: ['bj'] })
    await add('c-new', 'a', { cities: ['bj', 'sh'] })
    // a city does not cover a campus: the campus may move to another city
    await add('p-old', 'b', { campuses: ['bj-1'] })
    await add('p-new', 'b', { cities: ['bj'] })
    // a label set covers the nodes carrying more labels; not the other way round
    await add('l-old', 'c', { labels: ['lab', 'x'] })
    await add('l-new', 'c', { labels: ['lab'] })
    await add('l-newer', 'c', { labels: ['lab', 'y'] })
    // covered by two newer releases together, the node list by its ids
    await add('u-old', 'd', { campuses: ['bj-1'], nodes: ['n9'] })
    await add('u-a', 'd', { campuses: ['bj-1'] })
    await add('u-b', 'd', { nodes: ['n9', 'n8'] })
    // a newer release not compacted may yet be rolled back: it covers nothing yet
    await add('k-old', 'e', { cities: ['bj'] })
    await add('k-new', 'e', { cities: ['bj'] }, {}, false)
    // not in force: aborted, or completed with no node that got it
    await add('x-aborted', 'f', { cities: ['bj'] }, { status: 'aborted' })
    await add(
      'x-failed',
      'f',
      { cities: ['bj'] },
      { result: { outcome: 'failed', active: 0, failed: 1, timedOut: 0 } },
    )
    // still holding a late member's state
    await add('h-old', 'g', { cities: ['bj'] })
    await add('h-new', 'g', { cities: ['bj'] })
    const tx2 = state.tx()
    state.releases.putNode(tx2, 'h-old', node('late', { joinedAt: 5 }))
    await tx2.commit()

    const retired = (): string[] => retiredReleases(state).map((r) => r.id)
    const expected = ['c-old', 'l-old', 'u-old', 'x-aborted', 'x-failed']
    expect(retired()).toEqual(expected)
    // deleted, they are gone from every index, after a restart too
    const tx3 = state.tx()
    for (const id of expected) state.releases.delete(tx3, id)
    await tx3.commit()
    const gone = (s: TrackerState): void => {
      for (const id of expected) {
        expect(s.releases.releases.has(id)).toBe(false)
        expect(s.committed.releases.releases.has(id)).toBe(false)
        expect(s.releases.membersOf(id)).toBeUndefined()
        expect(s.releases.nodes.has(id)).toBe(false)
      }
      expect(s.releases.ofResource('a').map((r) => r.id)).toEqual(['c-new'])
      expect(s.releases.ofResource('f')).toEqual([])
      expect(s.releases.membersOf('c-new')?.ids).toEqual(['c-new-n'])
    }
    gone(state)
    await state.close()
    state = new TrackerState(dir)
    await state.open()
    gone(state)
    expect(retiredReleases(state)).toEqual([])
    await state.close()
  })
})
