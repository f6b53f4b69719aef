import { setTimeout as sleep } from 'node:timers/promises'
import { describe, expect, it } from 'vitest'
import { blake3, HashPool } from '../../../node/content/index.ts'
import { NotStartedError } from '../../../node/errors.ts'

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

describe('HashPool', () => {
  it('with idleMs, starts workers at the first hash and stops them when idle, then starts again', async () => {
    const pool = new HashPool({ size: 2, idleMs: 100 })
    pool.start()
    try {
      expect(pool.workers).toBe(0)
      const bytes = new Uint8Array(64 * 1024).fill(3)
      expect(hex((await pool.hash(bytes)).digest)).toBe(hex(blake3(bytes)))
      expect(pool.workers).toBe(2)
      for (let i = 0; i < 50 && pool.workers > 0; i++) await sleep(20)
      expect(pool.workers).toBe(0)
      const more = await Promise.all([1, 2, 3].map((n) => pool.hash(new Uint8Array(1000).fill(n))))
      expect(more.map((r) => hex(r.digest))).toEqual(
        [1, 2, 3].map((n) => hex(blake3(new Uint8Array(1000).fill(n)))),
      )
    } finally {
      await pool.stop()
    }
    await expect(pool.hash(new Uint8Array(10))).rejects.toThrow(NotStartedError)
  })

  it('replaces a worker that died', async () => {
    const pool = new HashPool({ size: 1 })
    pool.start()
    try {
      await pool.hash(new Uint8Array(10))
      // a worker killed from outside (as by an out-of-memory error)
      const [worker] = (pool as unknown as { slots: Array<{ worker: { terminate(): Promise<number> } }> })
        .slots
      await worker.worker.terminate()
      for (let i = 0; i < 50 && pool.workers > 0; i++) await sleep(10)
      const bytes = new Uint8Array(5000).fill(7)
      expect(hex((await pool.hash(bytes)).digest)).toBe(hex(blake3(bytes)))
      expect(pool.workers).toBe(1)
    } finally {
      await pool.stop()
    }
  })
})
