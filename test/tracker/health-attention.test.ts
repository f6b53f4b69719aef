/**
 * The attention rules (`tracker/health/attention.ts`) on reports as the tracker keeps them
 * (`HealthBook`), at set times: each reason, when it clears, and that an offline node is
 * never overdue.
 */
import { describe, expect, it } from 'vitest'
import type { NodeHealth } from '../../node/agent/protocol.ts'
import { attentionReasons, ORIGIN_FAILING_AFTER, REPORT_OVERDUE_MS } from '../../tracker/health/attention.ts'
import { HealthBook } from '../../tracker/health/book.ts'

const report = (change: (h: NodeHealth) => void = () => {}): NodeHealth => {
  const h: NodeHealth = {
    measuredAt: 1,
    store: { chunks: 1, bytes: 100, pinnedBytes: 100, quotaBytes: null, refusedWrites: 0 },
    disk: { freeBytes: 5_000, minFreeBytes: 1_000 },
    scrub: { running: false, corruptFound: 0, totalCorruptFound: 0 },
    corruptChunks: 0,
    connections: 1,
    origin: { consecutiveFailures: 0 },
  }
  change(h)
  return h
}

const T0 = 1_000_000

/** The reasons of the node's latest report in `book`, as seen at `now`. */
const reasons = (book: HealthBook, connected = true, now = T0) =>
  attentionReasons(book.get('n')!, connected, now)

describe('attention rules', () => {
  it('a healthy report needs none', () => {
    const book = new HealthBook()
    book.record('n', report(), T0)
    expect(reasons(book)).toEqual([])
  })

  it('disk under its floor, scrub finding corrupt chunks, the origin failing 5 times in a row', () => {
    const book = new HealthBook()
    book.record(
      'n',
      report((h) => (h.disk = { freeBytes: 999, minFreeBytes: 1_000 })),
      T0,
    )
    expect(reasons(book)).toEqual(['disk-low'])
    // a disk that cannot be asked, or no floor, is not low
    book.record(
      'n',
      report((h) => (h.disk = { freeBytes: null, minFreeBytes: 1_000 })),
      T0,
    )
    expect(reasons(book)).toEqual([])
    book.record(
      'n',
      report((h) => (h.scrub = { running: true, corruptFound: 2, totalCorruptFound: 2 })),
      T0,
    )
    expect(reasons(book)).toEqual(['scrub-corrupt'])
    // a later pass that found none clears it (the total stays)
    book.record(
      'n',
      report((h) => (h.scrub = { running: false, corruptFound: 0, totalCorruptFound: 2 })),
      T0,
    )
    expect(reasons(book)).toEqual([])
    // chunks a pass could not read at all: a failing disk
    book.record(
      'n',
      report((h) => (h.scrub = { running: false, corruptFound: 0, totalCorruptFound: 2, readErrors: 3 })),
      T0,
    )
    expect(reasons(book)).toEqual(['disk-unreadable'])
    book.record(
      'n',
      report((h) => (h.origin = { consecutiveFailures: ORIGIN_FAILING_AFTER - 1 })),
      T0,
    )
    expect(reasons(book)).toEqual([])
    book.record(
      'n',
      report((h) => (h.origin = { consecutiveFailures: ORIGIN_FAILING_AFTER })),
      T0,
    )
    expect(reasons(book)).toEqual(['origin-failing'])
  })

  it('a store refusing writes between two reports, cleared by one without new refusals; a restarted node counts anew', () => {
    const book = new HealthBook()
    const refused = (n: number) => report((h) => (h.store.refusedWrites = n))
    book.record('n', refused(0), T0)
    book.record('n', refused(4), T0)
    expect(reasons(book)).toEqual(['store-refusing'])
    book.record('n', refused(4), T0)
    expect(reasons(book)).toEqual([])
    // the node restarted (its count starts from 0 again) and refused 2
    book.record('n', refused(2), T0)
    expect(reasons(book)).toEqual(['store-refusing'])
    // the first report the tracker has: refusals since the node started
    const fresh = new HealthBook()
    fresh.record('n', refused(1), T0)
    expect(reasons(fresh)).toEqual(['store-refusing'])
  })

  it('a report overdue from a connected node, never from an offline one', () => {
    const book = new HealthBook()
    book.record('n', report(), T0)
    expect(reasons(book, true, T0 + REPORT_OVERDUE_MS)).toEqual([])
    expect(reasons(book, true, T0 + REPORT_OVERDUE_MS + 1)).toEqual(['report-overdue'])
    expect(reasons(book, false, T0 + 100 * REPORT_OVERDUE_MS)).toEqual([])
  })

  it('keeps one report per node, and at most its bound of nodes', () => {
    const book = new HealthBook({ maxEntries: 2 })
    expect(book.record('a', report(), T0)).toBe(true)
    expect(book.record('b', report(), T0)).toBe(true)
    expect(book.record('c', report(), T0)).toBe(false)
    // a node already kept is updated
    expect(book.record('a', report(), T0 + 1)).toBe(true)
    expect(book.get('a')?.reportedAt).toBe(T0 + 1)
    book.forget('b')
    expect(book.record('c', report(), T0)).toBe(true)
    expect(book.size).toBe(2)
  })
})
