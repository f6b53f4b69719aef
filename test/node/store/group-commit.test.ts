import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Level } from 'level'
import { afterEach, describe, expect, it } from 'vitest'
import { GroupCommit, type IndexOp } from '../../../node/store/group-commit.ts'

const dirs: string[] = []
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })))
})

describe('GroupCommit', () => {
  it('writes what arrives while a batch is being written together in the next batch, in order', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dandelion-group-'))
    dirs.push(dir)
    const db = new Level<string, string>(join(dir, 'index'))
    await db.open()
    const batches: number[] = []
    const index = new GroupCommit({
      batch: async (ops: IndexOp[]) => {
        batches.push(ops.length)
        await db.batch(ops)
      },
    })
    // 100 writers at once, each writing then replacing its key
    await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        index
          .write([{ type: 'put', key: `k${i}`, value: 'first' }])
          .then(() => index.write([{ type: 'put', key: `k${i}`, value: 'second' }])),
      ),
    )
    // the first write goes alone, the others wait and go in a handful of batches
    expect(batches[0]).toBe(1)
    expect(batches.length).toBeLessThan(10)
    expect(batches.reduce((a, b) => a + b, 0)).toBe(200)
    for (let i = 0; i < 100; i++) expect(await db.get(`k${i}`)).toBe('second')
    await db.close()
  })

  it('fails every write of a failed batch and carries on with the next', async () => {
    let calls = 0
    const written: string[] = []
    const index = new GroupCommit({
      batch: async (ops: IndexOp[]) => {
        await Promise.resolve()
        if (calls++ === 0) throw new Error('disk full')
        written.push(...ops.map((o) => o.key))
      },
    })
    const first = index.write([{ type: 'put', key: 'a', value: '1' }])
    const grouped = [
      index.write([{ type: 'del', key: 'b' }]),
      index.write([{ type: 'put', key: 'c', value: '3' }]),
    ]
    await expect(first).rejects.toThrow('disk full')
    // b and c were queued behind a, so they went in a batch of their own, after it
    await Promise.all(grouped)
    expect(written).toEqual(['b', 'c'])
  })
})
