import { Uint8ArrayList } from 'uint8arraylist'
import { describe, expect, it } from 'vitest'
import { ChunkBuffers } from '../../../node/swarm/chunk-buffers.ts'
import {
  encodeBytes,
  encodeChunk,
  encodeHello,
  encodeIndex,
  type Frame,
  FrameDecoder,
  FrameType,
} from '../../../node/swarm/codec.ts'

const limits = { maxChunkBytes: 4096, maxManifestBytes: 1024 }

function chunkBytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n)
  for (let i = 0; i < n; i++) out[i] = (i * 31 + seed) & 0xff
  return out
}

/** A stream of mixed frames, as one byte array. */
function wire(): { bytes: Uint8Array; chunks: Uint8Array[] } {
  const chunks = [chunkBytes(4096, 1), chunkBytes(1000, 2), chunkBytes(0, 3)]
  const parts: Uint8Array[] = [
    encodeHello({ v: 1, manifest: 'm', role: 'campus', campus: 'c' }),
    encodeBytes(FrameType.Bitfield, new Uint8Array([0xff, 0x01])),
    encodeIndex(FrameType.Have, 7),
    encodeChunk(0, chunks[0]).subarray(),
    encodeIndex(FrameType.Request, 3),
    encodeChunk(1, chunks[1]).subarray(),
    encodeChunk(2, chunks[2]).subarray(),
    encodeIndex(FrameType.Cancel, 9),
  ]
  return { bytes: new Uint8ArrayList(...parts).subarray(), chunks }
}

function check(frames: Frame[], chunks: Uint8Array[]): void {
  expect(frames.map((f) => f.type)).toEqual([
    FrameType.Hello,
    FrameType.Bitfield,
    FrameType.Have,
    FrameType.Chunk,
    FrameType.Request,
    FrameType.Chunk,
    FrameType.Chunk,
    FrameType.Cancel,
  ])
  const got = frames.flatMap((f) => (f.type === FrameType.Chunk ? [f] : []))
  expect(got.map((f) => f.index)).toEqual([0, 1, 2])
  for (const [i, f] of got.entries()) expect(Buffer.from(f.bytes).equals(Buffer.from(chunks[i]))).toBe(true)
}

describe('swarm frame decoder', () => {
  it('writes and reads every byte of the u32 fields, big-endian', () => {
    expect(Buffer.from(encodeIndex(FrameType.Request, 0xfedcba98)).toString('hex')).toBe('0000000503fedcba98')
    expect(Buffer.from(encodeChunk(0x01020304, new Uint8Array(0x0102)).subarray(0, 9)).toString('hex')).toBe(
      '000001070501020304',
    )
    const decoder = new FrameDecoder({ ...limits })
    const [have] = decoder.push(encodeIndex(FrameType.Have, 0xfedcba98))
    expect(have).toEqual({ type: FrameType.Have, index: 0xfedcba98 })
  })

  it('decodes the same frames however the stream splits them', () => {
    const { bytes, chunks } = wire()
    for (const step of [1, 3, 8, 9, 100, 4097, bytes.byteLength]) {
      const decoder = new FrameDecoder({ ...limits })
      const frames: Frame[] = []
      for (let at = 0; at < bytes.byteLength; at += step)
        frames.push(...decoder.push(bytes.subarray(at, at + step)))
      check(frames, chunks)
      expect(decoder.pending).toBe(0)
    }
  })

  it('takes a list of buffers as the muxer delivers them', () => {
    const { bytes, chunks } = wire()
    const list = new Uint8ArrayList()
    for (let at = 0; at < bytes.byteLength; at += 777) list.append(bytes.subarray(at, at + 777))
    check(new FrameDecoder({ ...limits }).push(list), chunks)
  })

  it('assembles chunks in buffers from the allocator, which owns them', () => {
    const { bytes, chunks } = wire()
    const pool = new ChunkBuffers()
    const decoder = new FrameDecoder({ ...limits }, (n) => pool.take(n))
    const frames = decoder.push(bytes)
    check(frames, chunks)
    for (const f of frames)
      if (f.type === FrameType.Chunk) expect(f.bytes.buffer).toBeInstanceOf(SharedArrayBuffer)
    // a network buffer is never kept: the chunk stays intact when the input is overwritten
    bytes.fill(0)
    check(frames, chunks)
  })

  it('refuses an oversize chunk from its header, before any of its bytes arrive', () => {
    let allocated = 0
    const decoder = new FrameDecoder({ ...limits }, (n) => {
      allocated += n
      return new Uint8Array(n)
    })
    const head = encodeChunk(0, new Uint8Array(limits.maxChunkBytes + 1)).subarray(0, 9)
    expect(() => decoder.push(head)).toThrow(/exceeds/)
    expect(allocated).toBe(0)
  })

  it('refuses an oversize length prefix on its own', () => {
    const decoder = new FrameDecoder({ ...limits })
    expect(() => decoder.push(new Uint8Array([0x7f, 0xff, 0xff, 0xff]))).toThrow(/out of bounds/)
  })

  it('refuses chunks before the chunk size is known', () => {
    const decoder = new FrameDecoder({ maxChunkBytes: 0, maxManifestBytes: 1024 })
    expect(() => decoder.push(encodeChunk(0, new Uint8Array(16)).subarray())).toThrow(/exceeds/)
  })
})

describe('chunk buffers', () => {
  it('reuses a buffer given back, within the free-bytes bound', () => {
    const pool = new ChunkBuffers({ maxFreeBytes: 2048 })
    const a = pool.take(1024)
    const b = pool.take(1024)
    const c = pool.take(1024)
    pool.give(a)
    pool.give(b)
    pool.give(c) // over the bound: left to the GC
    const d = pool.take(1000)
    expect(d.byteLength).toBe(1000)
    expect([a.buffer, b.buffer]).toContain(d.buffer)
    expect(pool.take(1024).buffer).not.toBe(c.buffer)
  })

  it("hands out the store's own buffers once made, and lets them push plain ones out", async () => {
    const made: Uint8Array[] = []
    const pending: Array<() => void> = []
    const pool = new ChunkBuffers({
      maxFreeBytes: 2048,
      alloc: async (size) => {
        await new Promise<void>((r) => pending.push(r))
        // a view inside a larger buffer, as direct-I/O alignment makes them
        made.push(new Uint8Array(new SharedArrayBuffer(size + 512)).subarray(512))
        return made.at(-1)
      },
    })
    // none free yet: plain memory now, the store's own made meanwhile
    const plain = [pool.take(1024), pool.take(1024)]
    for (const p of plain) pool.give(p)
    expect(pool.take(1024).buffer).toBe(plain[1].buffer) // reused while nothing better exists
    pool.give(plain[1])
    for (const resolve of pending.splice(0)) resolve()
    await new Promise((r) => setImmediate(r))
    expect(made.length).toBeGreaterThanOrEqual(2)
    // the free list was full of plain buffers: the store's own took their place
    const again = [pool.take(1024), pool.take(1024)]
    expect(new Set(again.map((b) => b.buffer))).toEqual(new Set(made.slice(0, 2).map((m) => m.buffer)))
    expect(again.every((b) => b.byteOffset === 512 && b.byteLength === 1024)).toBe(true)
  })

  it('stops asking a store that has no buffers of its own', async () => {
    let asked = 0
    const pool = new ChunkBuffers({
      alloc: async () => {
        asked++
        return undefined
      },
    })
    pool.take(1024)
    await new Promise((r) => setImmediate(r))
    const a = pool.take(1024)
    pool.give(a)
    expect(pool.take(1024).buffer).toBe(a.buffer)
    expect(asked).toBe(1)
  })
})
