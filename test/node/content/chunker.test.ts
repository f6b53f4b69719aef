import { describe, expect, it } from 'vitest'
import { blake3, chunkStream, HashPool } from '../../../node/content/index.ts'
import { InvalidConfigError } from '../../../node/errors.ts'

const KiB = 1024

async function* pieces(total: number, pieceSize: number): AsyncGenerator<Uint8Array> {
  let sent = 0
  while (sent < total) {
    const n = Math.min(pieceSize, total - sent)
    const b = new Uint8Array(n)
    for (let i = 0; i < n; i++) b[i] = (sent + i) % 253
    sent += n
    yield b
  }
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = []
  for await (const x of it) out.push(x)
  return out
}

describe('chunker', () => {
  it('cuts any piece pattern into fixed-size chunks that reassemble to the input', async () => {
    const total = 1000 * KiB + 17
    for (const pieceSize of [4096, 65_536 + 3, 3 * 256 * KiB]) {
      const chunks = await collect(chunkStream(pieces(total, pieceSize), 256 * KiB))
      expect(chunks.map((c) => c.byteLength)).toEqual([256 * KiB, 256 * KiB, 256 * KiB, 232 * KiB + 17])
      const joined = Buffer.concat(chunks)
      const expected = Buffer.concat(await collect(pieces(total, total)))
      expect(joined.equals(expected)).toBe(true)
    }
  })

  it('cuts byte-at-a-time input at the chunk boundaries, with a short last chunk', async () => {
    // one byte per piece: every chunk is filled across 256 Ki pieces, and both boundaries
    // (and the tail) fall between two pieces
    const total = 600 * KiB + 5
    const chunks = await collect(chunkStream(pieces(total, 1), 256 * KiB))
    expect(chunks.map((c) => c.byteLength)).toEqual([256 * KiB, 256 * KiB, 88 * KiB + 5])
    const expected = Buffer.concat(await collect(pieces(total, total)))
    expect(Buffer.concat(chunks).equals(expected)).toBe(true)
  })

  it('yields nothing for an empty stream and exact chunks for exact multiples', async () => {
    expect(await collect(chunkStream(pieces(0, 10), 256 * KiB))).toEqual([])
    const chunks = await collect(chunkStream(pieces(512 * KiB, 1000), 256 * KiB))
    expect(chunks.map((c) => c.byteLength)).toEqual([256 * KiB, 256 * KiB])
  })

  it('refuses chunk sizes that are not a power of two from 256 KiB to 4 MiB', async () => {
    for (const bad of [0, 128 * KiB, 300 * KiB, 8192 * KiB]) {
      await expect(collect(chunkStream(pieces(10, 10), bad))).rejects.toThrow(InvalidConfigError)
    }
  })

  it('hashes many chunks at once on worker threads, each to its own digest', async () => {
    const pool = new HashPool({ size: 2 })
    pool.start()
    try {
      const source = chunkStream(pieces(3 * 1024 * KiB + 5, 100_000), 256 * KiB)
      const expected = (await collect(chunkStream(pieces(3 * 1024 * KiB + 5, 100_000), 256 * KiB))).map((c) =>
        Buffer.from(blake3(c)).toString('hex'),
      )
      const chunks = await collect(source)
      const got = (await Promise.all(chunks.map((c) => pool.hash(c)))).map((r) =>
        Buffer.from(r.digest).toString('hex'),
      )
      expect(got).toEqual(expected)
    } finally {
      await pool.stop()
    }
  })

  it("never moves or changes the caller's bytes, views of larger buffers included", async () => {
    const pool = new HashPool({ size: 1 })
    pool.start()
    try {
      const whole = Buffer.alloc(3 * 256 * KiB, 9)
      const view = whole.subarray(256 * KiB, 512 * KiB) // a Buffer view: Buffer#slice would not copy it
      const small = Buffer.from('a short chunk from the shared Buffer pool')
      const [a, b] = await Promise.all([pool.hash(view), pool.hash(small)])
      expect(Buffer.from(a.digest).equals(Buffer.from(blake3(Buffer.alloc(256 * KiB, 9))))).toBe(true)
      expect(
        Buffer.from(b.digest).equals(
          Buffer.from(blake3(Buffer.from('a short chunk from the shared Buffer pool'))),
        ),
      ).toBe(true)
      expect(whole.byteLength).toBe(3 * 256 * KiB)
      expect(whole.every((x) => x === 9)).toBe(true)
      expect(small.toString()).toBe('a short chunk from the shared Buffer pool')
    } finally {
      await pool.stop()
    }
  })
})
