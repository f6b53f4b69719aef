/**
 * The origin (WAN) rate by time of day: windows parsed and refused as an operator writes
 * them, the rate and next change at given local moments, and a real node whose origin rate
 * follows its schedule across a boundary, with `dandelion limits` overriding it until then.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { resolveConfig } from '../../../node/daemon/config.ts'
import { fromEnv, fromFlags } from '../../../node/daemon/config-sources.ts'
import { statusLines } from '../../../node/daemon/status-command.ts'
import { parseSchedule, rateAt } from '../../../node/limiter/schedule.ts'
import { TRUSTED_ORIGIN } from '../utils/cli.ts'
import { Harness, until } from '../utils/harness.ts'

const h = new Harness()
afterEach(async () => await h.teardown())

/** Local time: 2026-12-07 is a Monday. */
const at = (day: number, hh: number, mm = 0, ss = 0): Date => new Date(2026, 11, 7 + day, hh, mm, ss)

const SCHOOL = ['mon-fri 07:30-17:00=262144', 'sat,sun 10:00-12:00=524288', '22:00-06:00=none']

describe('origin limit schedule', () => {
  it('gives the rate of the first window holding a moment, the base outside them, and the next change', () => {
    const w = parseSchedule(SCHOOL)
    const base = 1_000_000
    // Monday in class hours, until they end
    expect(rateAt(w, base, at(0, 8))).toMatchObject({ rate: 262144, nextChangeAt: at(0, 17) })
    // Monday evening: the base until the night window
    expect(rateAt(w, base, at(0, 18))).toMatchObject({ rate: base, nextChangeAt: at(0, 22) })
    // the night window runs past midnight, counted from the day it started
    expect(rateAt(w, base, at(0, 23))).toMatchObject({
      rate: Number.POSITIVE_INFINITY,
      nextChangeAt: at(1, 6),
    })
    expect(rateAt(w, base, at(1, 5, 59, 59))).toMatchObject({ rate: Number.POSITIVE_INFINITY })
    expect(rateAt(w, base, at(1, 6))).toMatchObject({ rate: base, nextChangeAt: at(1, 7, 30) })
    // Saturday, a window of its own; the end is exclusive
    expect(rateAt(w, base, at(5, 11))).toMatchObject({ rate: 524288, nextChangeAt: at(5, 12) })
    expect(rateAt(w, base, at(5, 12))).toMatchObject({ rate: base, nextChangeAt: at(5, 22) })
    // a window starting while one from the day before still runs: its start is the next change
    const early = parseSchedule(['22:00-06:00=none', '05:30-07:00=1000'])
    expect(rateAt(early, base, at(1, 5))).toMatchObject({
      rate: Number.POSITIVE_INFINITY,
      nextChangeAt: at(1, 5, 30),
    })
    expect(rateAt(early, base, at(1, 6))).toMatchObject({ rate: 1000, nextChangeAt: at(1, 7) })
    // overlapping windows: the first listed wins
    const overlap = parseSchedule(['09:00-10:00=1000', '00:00-24:00=2000'])
    expect(rateAt(overlap, base, at(2, 9, 30)).rate).toBe(1000)
    expect(rateAt(overlap, base, at(2, 10)).rate).toBe(2000)
  })

  it('refuses a window it cannot read, saying which and why', () => {
    expect(() => parseSchedule(['mon-fry 07:30-17:00=1000'])).toThrow(
      /"mon-fry 07:30-17:00=1000": unknown day/,
    )
    expect(() => parseSchedule(['07:30-25:00=1000'])).toThrow(/25:00 is not a time of day/)
    expect(() => parseSchedule(['07:30-07:30=1000'])).toThrow(/it starts when it ends/)
    expect(() => parseSchedule(['07:30-08:00=0'])).toThrow(/positive number of bytes per second, or none/)
    expect(() => parseSchedule(['at night=none'])).toThrow(
      /not a window .* e\.g\. "mon-fri 07:30-17:00=1048576"/,
    )
    expect(() => parseSchedule(Array.from({ length: 33 }, () => '07:00-08:00=1'))).toThrow(/at most 32/)
  })

  it('takes its windows from the daemon settings, a variable separating them with semicolons', () => {
    const base = { data: '/tmp/x', trustedOrigins: [TRUSTED_ORIGIN] }
    expect(resolveConfig(base).originLimitSchedule).toEqual([])
    const env = fromEnv({
      DANDELION_ORIGIN_LIMIT_SCHEDULE: 'mon-fri 07:30-17:00=262144;sat,sun 10:00-12:00=none',
    })
    expect(resolveConfig(base, env).originLimitSchedule).toEqual([
      'mon-fri 07:30-17:00=262144',
      'sat,sun 10:00-12:00=none',
    ])
    const flags = fromFlags({ 'origin-limit-schedule': ['22:00-06:00=none', '07:00-18:00=100000'] })
    expect(resolveConfig(base, flags).originLimitSchedule).toEqual(['22:00-06:00=none', '07:00-18:00=100000'])
    expect(() => resolveConfig(base, fromFlags({ 'origin-limit-schedule': ['07:00-18:00'] }))).toThrow(
      /origin limit schedule window "07:00-18:00": not a window .*\(--origin-limit-schedule, DANDELION_ORIGIN_LIMIT_SCHEDULE, "originLimitSchedule"\)/,
    )
  })

  it("a real node's origin rate follows its schedule across a boundary; a rate set by hand lasts until then", async () => {
    // a window that began a minute ago and ends in five seconds, local time (a node starts well
    // within that, even on a loaded machine; past midnight if need be)
    const now = new Date()
    const clock = (d: Date): string =>
      [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':')
    const window = `${clock(new Date(now.getTime() - 60_000))}-${clock(new Date(now.getTime() + 5_000))}=65536`
    const node = await h.spawn({ originLimitSchedule: [window], limits: { originBytesPerSecond: 5_000_000 } })
    expect(node.status().limits.originBytesPerSecond).toBe(65536)
    expect(node.status().originSchedule).toMatchObject({ windows: [window], window })
    expect(statusLines(node.status())).toContainEqual(
      expect.stringContaining(`(schedule: window "${window}" until `),
    )
    // the operator raises it by hand: it holds until the window ends
    node.setLimits({ originBytesPerSecond: 1_000_000 })
    expect(node.status().limits.originBytesPerSecond).toBe(1_000_000)
    // the window ends: the node's own origin limit again
    await until(() => node.status().limits.originBytesPerSecond === 5_000_000, 15_000)
    expect(node.status().originSchedule?.window).toBeUndefined()
    expect(statusLines(node.status())).toContainEqual(
      expect.stringContaining('(schedule: outside its windows until '),
    )
  })
})
