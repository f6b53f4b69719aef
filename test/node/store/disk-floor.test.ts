/**
 * The free-space floor's reading of its disk, as a metrics scrape sees it: taken from the
 * store's own reads while it writes, read again when older than a few seconds, never more.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { DiskFloor } from '../../../node/store/disk-floor.ts'

const MiB = 1024 * 1024

describe('DiskFloor.free', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['Date'] })
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  it("answers from a recent reading, the store's or its own, and reads again once it is old", () => {
    let free = 100 * MiB
    let reads = 0
    const floor = new DiskFloor({
      dir: '/nowhere',
      minFreeBytes: 10 * MiB,
      freeBytes: () => {
        reads++
        return free
      },
    })
    expect(floor.free()).toBe(100 * MiB)
    free = 90 * MiB
    // a scrape every second reads the disk once per 5 s at most
    vi.advanceTimersByTime(1_000)
    expect(floor.free()).toBe(100 * MiB)
    expect(reads).toBe(1)
    vi.advanceTimersByTime(5_000)
    expect(floor.free()).toBe(90 * MiB)
    expect(reads).toBe(2)
    // the store writing reads it too (and sets its limit): a scrape just after uses that
    vi.advanceTimersByTime(6_000)
    free = 80 * MiB
    floor.reserving(20 * MiB, MiB)
    expect(floor.limit).toBe(20 * MiB + 80 * MiB - 10 * MiB)
    expect(floor.free()).toBe(80 * MiB)
    expect(reads).toBe(3)
  })

  it('is NaN while the disk cannot be asked, and leaves the limit to the quota', () => {
    const floor = new DiskFloor({
      dir: '/nowhere',
      minFreeBytes: MiB,
      freeBytes: () => {
        throw new Error('EIO')
      },
    })
    expect(floor.free()).toBeNaN()
    floor.reserving(0, MiB)
    expect(floor.limit).toBe(Number.POSITIVE_INFINITY)
  })
})
