/**
 * The readers' copy of the state (`TrackerState.committed`) shares the release nodes the
 * writers put, rather than holding copies: a later report must then never show to readers
 * before it is on disk, as it would if a writer changed a shared object in place.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect, it } from 'vitest'
import type { Command } from '../../../node/agent/protocol.ts'
import { type OutcomeComponents, recordAck, recordProgress } from '../../../tracker/rollout/outcomes.ts'
import { TrackerState } from '../../../tracker/state/index.ts'

it('shows readers a release node as written, not as the reports after it change it', async () => {
  const state = new TrackerState()
  await state.open()
  const c: OutcomeComponents = { state, deadlines: { schedule: () => {} }, announce: () => {} }
  const cmd: Command = {
    seq: 1,
    id: 'c1',
    op: 'place',
    resource: 'lesson',
    version: 1,
    manifestCid: 'm',
    releaseId: 'r1',
  }
  const read = () => state.committed.releases.nodes.get('r1')?.get('n1')
  const a = state.tx()
  state.releases.putNode(a, 'r1', {
    nodeId: 'n1',
    stage: 0,
    variant: 'A',
    state: 'pending',
    cmdId: 'c1',
    percent: 0,
    peerBytes: 0,
    originBytes: 0,
  })
  await a.commit()

  const acked = state.tx()
  recordAck(c, acked, 'n1', cmd)
  // the ACK is not on disk yet
  expect(read()).toMatchObject({ state: 'pending' })
  await acked.commit()
  expect(read()).toMatchObject({ state: 'fetching', percent: 0 })

  const progress = state.tx()
  recordProgress(c, progress, 'n1', cmd, { percent: 50, peerBytes: 10, originBytes: 5 })
  expect(state.releases.nodes.get('r1')?.get('n1')).toMatchObject({ percent: 50, peerBytes: 10 })
  expect(read()).toMatchObject({ state: 'fetching', percent: 0, peerBytes: 0, originBytes: 0 })
  await progress.commit()
  expect(read()).toMatchObject({ state: 'fetching', percent: 50, peerBytes: 10, originBytes: 5 })
  await state.close()
})

it('loads one copy of the release nodes for writers and readers, and a copy of the rest for readers', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'dandelion-shared-'))
  try {
    const first = new TrackerState(dir)
    await first.open()
    const tx = first.tx()
    first.inventory.putCity(tx, { id: 'bj', name: 'Beijing' })
    first.releases.putNode(tx, 'r1', {
      nodeId: 'n1',
      stage: 0,
      variant: 'A',
      state: 'active',
      percent: 100,
      peerBytes: 0,
      originBytes: 0,
    })
    await tx.commit({ sync: true })
    await first.close()

    const state = new TrackerState(dir)
    await state.open()
    expect(state.committed.releases.nodes.get('r1')?.get('n1')).toBe(
      state.releases.nodes.get('r1')?.get('n1'),
    )
    // the inventory is changed in place by its writers: readers must not see it before it is written
    const city = state.inventory.cities.get('bj')
    if (city !== undefined) city.name = 'Peking'
    expect(state.committed.inventory.cities.get('bj')?.name).toBe('Beijing')
    await state.close()
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})
