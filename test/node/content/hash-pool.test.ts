import { randomBytes } from 'node:crypto'
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { describe, expect, it } from 'vitest'
import { blake3, blake3Implementation, blake3Wasm, HashPool } from '../../../node/content/index.ts'
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

  it('hashes on its workers with the process BLAKE3 by default, or the one asked for, to the same digests', async () => {
    const chunks = [0, 1, 1023, 1025, 1 << 20].map((n) => new Uint8Array(randomBytes(n)))
    const wanted = chunks.map((c) => hex(blake3Wasm(c)))
    for (const choice of [undefined, 'wasm', blake3Implementation] as const) {
      const pool = new HashPool({ size: 1, blake3: choice })
      pool.start()
      try {
        expect(pool.implementation).toBe(choice ?? blake3Implementation)
        const got = await Promise.all(chunks.map(async (c) => hex((await pool.hash(c)).digest)))
        expect(got, `blake3 ${choice}`).toEqual(wanted)
        // the worker itself says what it loaded (its first message, before any digest)
        expect(pool.loadedImplementations).toEqual([choice ?? blake3Implementation])
      } finally {
        await pool.stop()
      }
    }
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

  it('reads and hashes ranges of a file on a worker, the last one short, and reports read errors with their code', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dandelion-hashpool-'))
    const file = randomBytes(300_000)
    await writeFile(join(dir, 'f.bin'), file)
    const fh = await open(join(dir, 'f.bin'), 'r')
    for (const size of [2, 0]) {
      const pool = new HashPool({ size })
      pool.start()
      try {
        const into = new Uint8Array(new SharedArrayBuffer(128 * 1024))
        const read = await pool.readAndHash(fh.fd, 256 * 1024, into)
        expect(read.bytes.buffer).toBe(into.buffer)
        expect(Buffer.from(read.bytes).equals(file.subarray(256 * 1024))).toBe(true)
        expect(read.digests.map(hex)).toEqual([hex(blake3(file.subarray(256 * 1024)))])
        const whole = await pool.readAndHash(fh.fd, 0, into)
        expect(whole.digests.map(hex)).toEqual([hex(blake3(file.subarray(0, 128 * 1024)))])
        await expect(pool.readAndHash(fh.fd, 0, new Uint8Array(10))).rejects.toThrow(TypeError)
        await expect(pool.readAndHash(1_000_000, 0, into)).rejects.toMatchObject({ code: 'EBADF' })
        // the worker that reported the error still hashes
        expect((await pool.readAndHash(fh.fd, 0, into)).digests.map(hex)).toEqual(whole.digests.map(hex))
      } finally {
        await pool.stop()
      }
    }
    await fh.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('hashes a run of chunks one by one and writes the run where asked, the last chunk short', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dandelion-hashpool-'))
    const file = randomBytes(300_000)
    await writeFile(join(dir, 'f.bin'), file)
    const src = await open(join(dir, 'f.bin'), 'r')
    const dest = await open(join(dir, 'out.bin'), 'w+')
    const chunk = 64 * 1024
    for (const size of [2, 0]) {
      const pool = new HashPool({ size })
      pool.start()
      try {
        // four 64 KiB chunks from 128 KiB on: the file ends 37,856 bytes into the third
        const into = new Uint8Array(new SharedArrayBuffer(4 * chunk))
        const run = await pool.readAndHash(src.fd, 2 * chunk, into, {
          chunkSize: chunk,
          writeTo: { fd: dest.fd, position: 1000 },
        })
        const expected = file.subarray(2 * chunk)
        expect(run.bytes.byteLength).toBe(expected.byteLength)
        expect(run.digests.map(hex)).toEqual(
          [0, 1, 2].map((i) => hex(blake3(expected.subarray(i * chunk, (i + 1) * chunk)))),
        )
        const written = Buffer.alloc(expected.byteLength)
        await dest.read(written, 0, written.byteLength, 1000)
        expect(written.equals(expected)).toBe(true)
        // a failed write is reported with its code, like a failed read
        await expect(
          pool.readAndHash(src.fd, 0, into, { chunkSize: chunk, writeTo: { fd: src.fd, position: 0 } }),
        ).rejects.toMatchObject({ code: 'EBADF' })
        await expect(pool.readAndHash(src.fd, 0, into, { chunkSize: 0 })).rejects.toThrow(RangeError)
      } finally {
        await pool.stop()
      }
    }
    await src.close()
    await dest.close()
    await rm(dir, { recursive: true, force: true })
  })
})
