import { getEventListeners } from 'node:events'
import { describe, expect, it } from 'vitest'
import { ChunkWaiters } from '../../../node/swarm/chunk-waiters.ts'

describe('ChunkWaiters', () => {
  it('wakes every reader of a chunk once it is stored, and tells the scheduler where they are', async () => {
    const w = new ChunkWaiters()
    const a = w.wait(3, () => false, [])
    const b = w.wait(3, () => false, [])
    const c = w.wait(7, () => false, [])
    expect(w.size).toBe(3)
    expect([...w.blockedOn()].sort()).toEqual([3, 7])
    w.stored(3)
    await Promise.all([a, b])
    expect([...w.blockedOn()]).toEqual([7])
    w.stored(7)
    await c
    expect(w.size).toBe(0)
  })

  it('does not wait for a chunk stored before the reader registered', async () => {
    const w = new ChunkWaiters()
    await w.wait(1, () => true, [])
    expect(w.size).toBe(0)
  })

  it('rejects a reader whose signal aborts, or one already aborted, and forgets it', async () => {
    const w = new ChunkWaiters()
    const reader = new AbortController()
    const stop = new AbortController()
    const pending = w.wait(2, () => false, [reader.signal, stop.signal])
    reader.abort(new Error('player went away'))
    await expect(pending).rejects.toThrow('player went away')
    expect(w.size).toBe(0)
    stop.abort(new Error('swarm stopped'))
    await expect(w.wait(2, () => false, [stop.signal])).rejects.toThrow('swarm stopped')
    expect(w.size).toBe(0)
  })

  it('fails every waiting reader with the download error', async () => {
    const w = new ChunkWaiters()
    const a = w.wait(0, () => false, [])
    const b = w.wait(5, () => false, [])
    w.failAll(new Error('disk full'))
    await expect(a).rejects.toThrow('disk full')
    await expect(b).rejects.toThrow('disk full')
    expect(w.size).toBe(0)
  })

  it('leaves no listener on the swarm-wide signal after a read (a long playback must not pile them up)', async () => {
    const w = new ChunkWaiters()
    const stop = new AbortController()
    for (let i = 0; i < 100; i++) {
      const read = w.wait(i, () => false, [stop.signal])
      w.stored(i)
      await read
    }
    expect(getEventListeners(stop.signal, 'abort')).toHaveLength(0)
  })
})
