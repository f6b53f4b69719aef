import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { TrackerState } from '../../../tracker/state/index.ts'
import { LevelKv } from '../../../tracker/state/kv.ts'

const dirs: string[] = []
afterEach(async () => {
  vi.restoreAllMocks()
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true })
})

describe('group writer', () => {
  it('fails stop: after a failed batch nothing more is written and no change set is opened', async () => {
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
    disk.resolve()

    await expect(first).rejects.toMatchObject({ name: 'StateUnavailableError', cause: enospc })
    await expect(second).rejects.toMatchObject({ name: 'StateUnavailableError' })
    expect(batch).toHaveBeenCalledTimes(1)
    expect(state.failure?.code).toBe('ERR_STATE_UNAVAILABLE')
    expect(() => state.tx()).toThrow(expect.objectContaining({ name: 'StateUnavailableError' }))
    await state.close()

    const reopened = new TrackerState(dir)
    await reopened.open()
    expect([...reopened.inventory.cities.keys()]).toEqual([])
    expect([...reopened.inventory.campuses.keys()]).toEqual([])
    expect(reopened.failure).toBeUndefined()
    await reopened.close()
  })
})
