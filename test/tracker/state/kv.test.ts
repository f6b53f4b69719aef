import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { TrackerState } from '../../../tracker/state/index.ts'
import { LevelKv, MemoryKv } from '../../../tracker/state/kv.ts'

const dirs: string[] = []
afterEach(async () => {
  vi.restoreAllMocks()
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true })
})

describe('group writer', () => {
  it('refuses a failed batch and those built on it, reloads the writers from disk and goes on', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dandelion-kv-'))
    dirs.push(dir)
    const state = new TrackerState(dir)
    await state.open()
    const disk = Promise.withResolvers<void>()
    const enospc = Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' })
    const batch = vi.spyOn(LevelKv.prototype, 'batch').mockImplementationOnce(async () => {
      await disk.promise
      throw enospc
    })
    const a = state.tx()
    state.inventory.putCity(a, { id: 'bj', name: 'Beijing' })
    const first = a.commit({ sync: true })
    await vi.waitFor(() => expect(batch).toHaveBeenCalledTimes(1))
    // queued behind the failing batch, and built on its memory
    const b = state.tx()
    state.inventory.putCampus(b, { id: 'bj-1', city: 'bj', name: 'BJ one' })
    const second = b.commit({ sync: true })
    // made before the failure, committed after it
    const c = state.tx()
    state.inventory.putCity(c, { id: 'sh', name: 'Shanghai' })
    // readers see nothing of a change not on disk
    expect([...state.committed.inventory.cities.keys()]).toEqual([])
    disk.resolve()

    await expect(first).rejects.toMatchObject({ name: 'StateUnavailableError', cause: enospc })
    await expect(second).rejects.toMatchObject({ name: 'StateUnavailableError' })
    await expect(c.commit()).rejects.toMatchObject({ name: 'StateUnavailableError' })
    expect(batch).toHaveBeenCalledTimes(1)
    expect(state.failure?.code).toBe('ERR_STATE_UNAVAILABLE')
    await vi.waitFor(() => expect(state.available).toBe(true))
    expect([...state.inventory.cities.keys()]).toEqual([])
    expect([...state.inventory.campuses.keys()]).toEqual([])
    expect([...state.committed.inventory.cities.keys()]).toEqual([])

    // the next change is written, and shows
    const d = state.tx()
    state.inventory.putCity(d, { id: 'gz', name: 'Guangzhou' })
    await d.commit({ sync: true })
    expect(state.failure).toBeUndefined()
    expect([...state.committed.inventory.cities.keys()]).toEqual(['gz'])
    await state.close()

    const reopened = new TrackerState(dir)
    await reopened.open()
    expect([...reopened.inventory.cities.keys()]).toEqual(['gz'])
    expect([...reopened.inventory.campuses.keys()]).toEqual([])
    expect(reopened.failure).toBeUndefined()
    await reopened.close()
  })

  it('shows readers each write as it was made, not as its objects were changed after', async () => {
    const state = new TrackerState()
    await state.open()
    const tx = state.tx()
    const node = state.inventory.putNode(tx, { id: 'n1', labels: ['a'] })
    const done = tx.commit()
    // a repository object changed in place after the write was made, before it is on disk
    node.labels.push('b')
    await done
    expect(state.committed.inventory.nodes.get('n1')?.labels).toEqual(['a'])
    await state.close()
  })

  it('writes a key written twice in one change once, with its last value', async () => {
    const state = new TrackerState()
    await state.open()
    const batch = vi.spyOn(MemoryKv.prototype, 'batch')
    const tx = state.tx()
    state.inventory.putCity(tx, { id: 'bj', name: 'Peking' })
    state.inventory.putCity(tx, { id: 'sh', name: 'Shanghai' })
    state.inventory.putCity(tx, { id: 'bj', name: 'Beijing' })
    await tx.commit()
    expect(batch.mock.calls[0][0].map((op) => op.key)).toEqual(['city!bj', 'city!sh'])
    expect(state.committed.inventory.cities.get('bj')?.name).toBe('Beijing')
    await state.close()
  })

  it("counts readers' queued and unACKed commands as the disk holds them", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dandelion-kv-'))
    dirs.push(dir)
    const state = new TrackerState(dir)
    await state.open()
    const place = { op: 'place', resource: 'lesson', version: 1, manifestCid: 'm' } as const
    const a = state.tx()
    const first = state.outbox.enqueue(a, 'n1', place)
    state.outbox.enqueue(a, 'n1', { ...place, version: 2 })
    state.outbox.enqueue(a, 'n2', place)
    await a.commit({ sync: true })
    expect(state.committed.outbox.stats()).toEqual({ queued: 3, unacked: 3 })
    const b = state.tx()
    state.outbox.ack(b, 'n1', first.seq, first.id)
    // not on disk yet: readers do not see it
    expect(state.committed.outbox.stats()).toEqual({ queued: 3, unacked: 3 })
    const acked = b.commit()
    const c = state.tx()
    state.outbox.outcome(c, 'n1', first.id, 'active')
    await Promise.all([acked, c.commit()])
    expect(state.committed.outbox.stats()).toEqual({ queued: 2, unacked: 2 })
    expect(state.outbox.stats()).toEqual({ queued: 2, unacked: 2 })
    await state.close()

    const reopened = new TrackerState(dir)
    await reopened.open()
    expect(reopened.committed.outbox.stats()).toEqual({ queued: 2, unacked: 2 })
    expect(reopened.outbox.stats()).toEqual({ queued: 2, unacked: 2 })
    await reopened.close()
  })
})
