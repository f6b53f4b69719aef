import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Level } from 'level'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { LevelNameTable } from '../../node/names.ts'

const dirs: string[] = []
afterEach(async () => {
  vi.restoreAllMocks()
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })))
})

async function openTable(): Promise<{ table: LevelNameTable; dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'dandelion-names-'))
  dirs.push(dir)
  const table = new LevelNameTable(dir)
  await table.open()
  return { table, dir }
}

const diskFull = (): Error => Object.assign(new Error('No space left on device'), { code: 'ENOSPC' })

describe('LevelNameTable', () => {
  it('writes each change synced, and serves it only once it is on disk', async () => {
    const { table, dir } = await openTable()
    const put = vi.spyOn(Level.prototype, 'put')
    const del = vi.spyOn(Level.prototype, 'del')
    await table.set('lesson', 'v1')
    await table.set('quiz', 'q1')
    await table.delete('quiz')
    // the agent journals an activation as applied once this resolves: a power cut must not undo it
    expect(put.mock.calls.map((c) => c[2])).toEqual([{ sync: true }, { sync: true }])
    expect(del.mock.calls.map((c) => c[1])).toEqual([{ sync: true }])
    await table.close()

    const again = new LevelNameTable(dir)
    await again.open()
    expect(await again.list()).toEqual([{ name: 'lesson', manifestCid: 'v1' }])
    await again.close()
  })

  it('keeps serving the old version when the disk refuses the change', async () => {
    const { table } = await openTable()
    await table.set('lesson', 'v1')
    await table.set('quiz', 'q1')
    vi.spyOn(Level.prototype, 'put').mockRejectedValueOnce(diskFull())
    vi.spyOn(Level.prototype, 'del').mockRejectedValueOnce(diskFull())

    await expect(table.set('lesson', 'v2')).rejects.toMatchObject({ code: 'ENOSPC' })
    await expect(table.delete('quiz')).rejects.toMatchObject({ code: 'ENOSPC' })
    // the command failed: playback goes on with what the disk holds
    expect(await table.get('lesson')).toBe('v1')
    expect(await table.get('quiz')).toBe('q1')
    await table.close()
  })
})
