/**
 * A node's hello looks up what it should run (`rollout/reconcile.ts`) and the commands an
 * abort withdrew from it (`rollout/withdraw.ts`) in indexes the releases' repository keeps
 * (by resource, newest first; by node), not by walking every release: they must say the
 * same as the stored states, through writes, deletes and a restart.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { desiredVersions } from '../../../tracker/rollout/reconcile.ts'
import { matches } from '../../../tracker/rollout/select.ts'
import { TrackerState } from '../../../tracker/state/index.ts'
import type { Release, ReleaseNode } from '../../../tracker/state/releases.ts'

const dirs: string[] = []
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true })
})

const release = (id: string, extra: Partial<Release> = {}): Release =>
  ({
    id,
    resource: 'lesson',
    version: 1,
    manifestCid: 'bafy',
    targets: { cities: ['bj'] },
    stages: [{ percent: 100 }],
    status: 'aborted',
    stage: 0,
    total: 2,
    createdAt: 0,
    updatedAt: 0,
    ...extra,
  }) as unknown as Release

/** What a node should run, per resource, found by walking every release (the code before the index). */
function walkedDesired(
  state: TrackerState,
  nodeId: string,
  campus: string,
  city: string,
): Map<string, string> {
  const best = new Map<string, Release>()
  for (const r of state.releases.releases.values()) {
    const inForce = r.status === 'completed' && (r.result === undefined || r.result.active > 0)
    if (!inForce || !matches({ id: nodeId, campus, city, labels: [] }, r.targets)) continue
    const b = best.get(r.resource)
    if (b === undefined || r.createdAt > b.createdAt || (r.createdAt === b.createdAt && r.id > b.id))
      best.set(r.resource, r)
  }
  return new Map([...best].map(([resource, r]) => [resource, r.id]))
}

const node = (nodeId: string, extra: Partial<ReleaseNode> = {}): ReleaseNode => ({
  nodeId,
  stage: 0,
  variant: 'A',
  state: 'pending',
  cmdId: `cmd-${nodeId}`,
  percent: 0,
  peerBytes: 0,
  originBytes: 0,
  ...extra,
})

describe('the index of withdrawn commands by node', () => {
  it('follows the stored states through writes, a release deleted and a restart', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dandelion-withdrawn-'))
    dirs.push(dir)
    let state = new TrackerState(dir)
    await state.open()
    const withdrawn = { state: 'withdrawn' as const, withdrawnAt: 1, withdrawnSeq: 7 }
    const tx = state.tx()
    // many releases, only two of which withdrew a command from n1
    for (let i = 0; i < 50; i++) {
      state.releases.put(tx, release(`r${i}`))
      state.releases.putNode(tx, `r${i}`, node('n1'))
    }
    state.releases.putNode(tx, 'r3', node('n1', withdrawn))
    state.releases.putNode(tx, 'r9', node('n1', withdrawn))
    state.releases.putNode(tx, 'r9', node('n2', withdrawn))
    // its sequence already checked at a hello: nothing left to ask
    state.releases.putNode(tx, 'r4', node('n3', { ...withdrawn, withdrawnSeq: undefined }))
    // a deleted machine's entry: the node enrolled later under its id never had it
    state.releases.putNode(tx, 'r5', node('n4', { ...withdrawn, deletedAt: 2 }))
    await tx.commit({ sync: true })
    expect(state.releases.withdrawnAwaitingHello('n1').sort()).toEqual(['r3', 'r9'])
    expect(state.releases.withdrawnAwaitingHello('n2')).toEqual(['r9'])
    expect(state.releases.withdrawnAwaitingHello('n3')).toEqual([])
    expect(state.releases.withdrawnAwaitingHello('n4')).toEqual([])

    const change = state.tx()
    state.releases.putNode(change, 'r3', node('n1', { ...withdrawn, state: 'fetching' }))
    state.releases.delete(change, 'r9')
    await change.commit({ sync: true })
    expect(state.releases.withdrawnAwaitingHello('n1')).toEqual([])
    expect(state.releases.withdrawnAwaitingHello('n2')).toEqual([])

    const again = state.tx()
    state.releases.putNode(again, 'r7', node('n1', withdrawn))
    await again.commit({ sync: true })
    await state.close()
    // rebuilt from the disk
    state = new TrackerState(dir)
    await state.open()
    expect(state.releases.withdrawnAwaitingHello('n1')).toEqual(['r7'])
    expect(state.committed.releases.withdrawnAwaitingHello('n1')).toEqual(['r7'])
    await state.close()
  })
})

describe('the index of releases by resource', () => {
  it('finds what each node should run as walking every release did, after changes and a restart', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dandelion-by-resource-'))
    dirs.push(dir)
    let state = new TrackerState(dir)
    await state.open()
    let seed = 7
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31
      return seed % n
    }
    const cities = ['bj', 'sh']
    const campuses = ['bj-1', 'bj-2', 'sh-1']
    const setup = state.tx()
    for (const id of cities) state.inventory.putCity(setup, { id, name: id })
    for (const id of campuses) state.inventory.putCampus(setup, { id, city: id.slice(0, 2), name: id })
    for (const campus of campuses) state.inventory.putNode(setup, { id: `${campus}-n`, campus, labels: [] })
    // created out of order, some at the same millisecond, some no node got
    const statuses = ['completed', 'completed', 'aborted', 'running', 'rolled_back'] as const
    for (let i = 0; i < 300; i++) {
      const targets = rand(2) === 0 ? { cities: [cities[rand(2)]] } : { campuses: [campuses[rand(3)]] }
      const status = statuses[rand(statuses.length)]
      const result =
        status === 'completed' ? { outcome: 'x', active: rand(3), failed: 0, timedOut: 0 } : undefined
      state.releases.put(
        setup,
        release(`r${String(i).padStart(3, '0')}`, {
          resource: `res${rand(4)}`,
          createdAt: rand(60),
          targets,
          status,
          result,
        } as Partial<Release>),
      )
    }
    await setup.commit({ sync: true })
    const check = (s: TrackerState): void => {
      for (const campus of campuses) {
        const nodeId = `${campus}-n`
        const want = walkedDesired(s, nodeId, campus, campus.slice(0, 2))
        const got = new Map([...desiredVersions(s, nodeId)].map(([res, d]) => [res, d.releaseId]))
        expect(got, nodeId).toEqual(want)
        const readers = new Map(
          [...desiredVersions(s.committed, nodeId)].map(([res, d]) => [res, d.releaseId]),
        )
        expect(readers, `${nodeId} (readers)`).toEqual(want)
      }
    }
    check(state)
    // the newest in force of every resource changed in place, deleted, or completed later
    const change = state.tx()
    for (const resource of [...state.releases.resources()]) {
      const [newest, second] = state.releases.ofResource(resource)
      newest.status = 'rolled_back'
      state.releases.put(change, newest)
      if (second !== undefined) state.releases.delete(change, second.id)
    }
    state.releases.put(
      change,
      release('late', { resource: 'res9', createdAt: 5, targets: { cities: ['bj'] }, status: 'completed' }),
    )
    await change.commit({ sync: true })
    check(state)
    await state.close()
    state = new TrackerState(dir)
    await state.open()
    check(state)
    await state.close()
  })
})
