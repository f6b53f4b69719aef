/**
 * Releases and node states written straight into a tracker state on disk, for the tests of
 * the retention rule (`tracker/rollout/retention.ts`): a completed release of `lesson` to
 * campus `c1`, a node state `active` on side A, unless told otherwise.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { compactRelease } from '../../../tracker/rollout/retention.ts'
import { TrackerState } from '../../../tracker/state/index.ts'
import type { Release, ReleaseNode } from '../../../tracker/state/releases.ts'

/** The retention period the tests run the rule with (ms). */
export const RETENTION = 1_000

/** A release finished at 0, with `extra` over the defaults. */
export const release = (id: string, extra: Partial<Release> = {}): Release => ({
  id,
  resource: 'lesson',
  version: 1,
  manifestCid: 'bafy-a',
  targets: { campuses: ['c1'] },
  stages: [{ percent: 100, gate: 'auto' }],
  status: 'completed',
  result: { outcome: 'succeeded', active: 1, failed: 0, timedOut: 0 },
  stage: 0,
  total: 1,
  createdAt: 0,
  updatedAt: 0,
  finishedAt: 0,
  ...extra,
})

/** A node state, with `extra` over the defaults. */
export const node = (nodeId: string, extra: Partial<ReleaseNode> = {}): ReleaseNode => ({
  nodeId,
  stage: 0,
  variant: 'A',
  state: 'active',
  percent: 100,
  peerBytes: 0,
  originBytes: 0,
  ...extra,
})

/** Temporary state directories, removed by {@link cleanUp}. */
const dirs: string[] = []

/** An open tracker state in a new temporary directory. */
export async function onDisk(): Promise<{ dir: string; state: TrackerState }> {
  const dir = await mkdtemp(join(tmpdir(), 'dandelion-retention-'))
  dirs.push(dir)
  const state = new TrackerState(dir)
  await state.open()
  return { dir, state }
}

/** The state in `dir` opened again, as a restarted tracker loads it. */
export async function reopen(state: TrackerState, dir: string): Promise<TrackerState> {
  await state.close()
  const again = new TrackerState(dir)
  await again.open()
  return again
}

/** Removes the directories {@link onDisk} made (after each test). */
export async function cleanUp(): Promise<void> {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true })
}

/** Writes `r` and its nodes, committed. */
export async function put(state: TrackerState, r: Release, nodes: ReleaseNode[]): Promise<void> {
  const tx = state.tx()
  state.releases.put(tx, r)
  for (const n of nodes) state.releases.putNode(tx, r.id, n)
  await tx.commit()
}

/** Compacts release `id` at `now`, committed; resolves with how many node states it folded. */
export async function compact(state: TrackerState, id: string, now = RETENTION): Promise<number> {
  const tx = state.tx()
  const n = compactRelease(state, tx, state.releases.get(id), now)
  await tx.commit()
  return n
}
