/**
 * A node's hello checks the commands an abort withdrew from it against its `lastSeq`
 * (`rollout/withdraw.ts`). It looks them up in an index by node kept by the releases'
 * repository, not by walking every release: the index must say the same as the stored
 * states, through writes, deletes and a restart.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { TrackerState } from '../../../tracker/state/index.ts'
import type { Release, ReleaseNode } from '../../../tracker/state/releases.ts'

const dirs: string[] = []
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true })
})

const release = (id: string): Release =>
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
  }) as unknown as Release

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
