/**
 * A time-of-day schedule for a node's origin (WAN) rate. A school's external link carries
 * the lessons' live tutoring and the classrooms' web use by day: the schedule holds the
 * origin fallback to a trickle in class hours and lets it run at night, so next week's
 * lessons arrive without a class ever waiting on them.
 *
 * A window is `[DAYS ]HH:MM[:SS]-HH:MM[:SS]=RATE`: DAYS a day (`mon`) or a span
 * (`mon-fri`), several comma-separated (`sat,sun`), every day when left out; an end before
 * its start runs past midnight (`22:00-06:00`, counted on the day it starts); RATE bytes per
 * second, or `none` for no limit. The first window that holds a moment gives its rate;
 * outside every window the node's own origin limit applies (`--origin-limit`, or none).
 * Times are the machine's local time (its `TZ`).
 *
 * `dandelion limits --origin R` changes the rate at once and until the schedule's next
 * change, when the schedule takes over again.
 */
import { InvalidConfigError } from '../errors.ts'
import { MAX_TIMER_MS } from '../node-constants.ts'

const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const
const DAY_MS = 24 * 3600_000
/** Most windows a schedule may hold. */
export const MAX_SCHEDULE_WINDOWS = 32

/** One window of a schedule, parsed. */
export interface ScheduleWindow {
  /** As written. */
  text: string
  /** Days of the week it starts on (0 = Sunday). */
  days: ReadonlySet<number>
  /** Seconds after local midnight. */
  start: number
  end: number
  /** Bytes per second; `Infinity`: no limit. */
  rate: number
}

const WINDOW =
  /^(?:([a-z,-]+)\s+)?(\d{1,2}):(\d{2})(?::(\d{2}))?-(\d{1,2}):(\d{2})(?::(\d{2}))?=(none|\d+(?:\.\d+)?)$/

function bad(text: string, why: string): InvalidConfigError {
  return new InvalidConfigError(
    `origin limit schedule window ${JSON.stringify(text)}: ${why} (write [DAYS ]HH:MM-HH:MM=BYTES_PER_SECOND|none, e.g. "mon-fri 07:30-17:00=1048576")`,
  )
}

function parseDays(text: string, spec: string): Set<number> {
  const out = new Set<number>()
  for (const part of spec.split(',')) {
    const [from, to] = part.split('-')
    const a = DAYS.indexOf(from as (typeof DAYS)[number])
    const b = to === undefined ? a : DAYS.indexOf(to as (typeof DAYS)[number])
    if (a < 0 || b < 0) throw bad(text, `unknown day in ${JSON.stringify(part)} (${DAYS.join(', ')})`)
    for (let d = a; ; d = (d + 1) % 7) {
      out.add(d)
      if (d === b) break
    }
  }
  return out
}

function seconds(text: string, h: string, m: string, s: string | undefined): number {
  const [hh, mm, ss] = [Number(h), Number(m), Number(s ?? 0)]
  if (hh > 24 || mm > 59 || ss > 59 || (hh === 24 && (mm > 0 || ss > 0)))
    throw bad(text, `${h}:${m}${s === undefined ? '' : `:${s}`} is not a time of day`)
  return hh * 3600 + mm * 60 + ss
}

/**
 * Parses a schedule's windows.
 * @throws InvalidConfigError naming the window and what is wrong with it
 */
export function parseSchedule(entries: readonly string[]): ScheduleWindow[] {
  if (entries.length > MAX_SCHEDULE_WINDOWS)
    throw new InvalidConfigError(
      `origin limit schedule: ${entries.length} windows, at most ${MAX_SCHEDULE_WINDOWS}`,
    )
  return entries.map((raw) => {
    const text = raw.trim().toLowerCase().replace(/\s+/g, ' ')
    const m = WINDOW.exec(text)
    if (m === null) throw bad(raw, 'not a window')
    const start = seconds(raw, m[2], m[3], m[4])
    const end = seconds(raw, m[5], m[6], m[7])
    if (start === end) throw bad(raw, 'it starts when it ends')
    const rate = m[8] === 'none' ? Number.POSITIVE_INFINITY : Number(m[8])
    if (!(rate > 0)) throw bad(raw, 'the rate must be a positive number of bytes per second, or none')
    const days = m[1] === undefined ? new Set([0, 1, 2, 3, 4, 5, 6]) : parseDays(raw, m[1])
    return { text: raw.trim(), days, start, end, rate }
  })
}

/** The window of `windows` holding local moment `at`, if any. */
function windowAt(windows: readonly ScheduleWindow[], at: Date): ScheduleWindow | undefined {
  const sec = at.getHours() * 3600 + at.getMinutes() * 60 + at.getSeconds()
  const day = at.getDay()
  const yesterday = (day + 6) % 7
  return windows.find((w) =>
    w.start < w.end
      ? w.days.has(day) && sec >= w.start && sec < w.end
      : (w.days.has(day) && sec >= w.start) || (w.days.has(yesterday) && sec < w.end),
  )
}

/** The rate at local moment `at`, the window giving it, and when the rate may next change. */
export function rateAt(
  windows: readonly ScheduleWindow[],
  base: number,
  at: Date,
): { rate: number; window?: ScheduleWindow; nextChangeAt?: Date } {
  const window = windowAt(windows, at)
  if (windows.length === 0) return { rate: base }
  // the next moment a window starts or ends, over yesterday (a window past midnight ends
  // today) to a week and a day ahead: every boundary is at a whole second of local time, and
  // the window holding it is looked up again then
  const midnight = new Date(at.getFullYear(), at.getMonth(), at.getDate())
  let next: Date | undefined
  for (let d = -1; d <= 8; d++) {
    const day = new Date(midnight.getFullYear(), midnight.getMonth(), midnight.getDate() + d)
    for (const w of windows) {
      if (!w.days.has(day.getDay())) continue
      for (const s of [w.start, w.start < w.end ? w.end : w.end + DAY_MS / 1000]) {
        const t = new Date(day.getTime() + s * 1000)
        if (t.getTime() > at.getTime() && (next === undefined || t.getTime() < next.getTime())) next = t
      }
    }
  }
  return { rate: window?.rate ?? base, ...(window === undefined ? {} : { window }), nextChangeAt: next }
}

/** What a {@link RateSchedule} drives. */
export interface RateScheduleComponents {
  /** Sets the origin rate (`Limiter.set`). */
  setOriginRate(bytesPerSecond: number): void
  /** Local time now. @default new Date() */
  now?(): Date
}

/** What {@link RateSchedule.status} reports. */
export interface OriginScheduleStatus {
  windows: string[]
  /** The window in force, if any (else the node's own origin limit). */
  window?: string
  /** When the schedule next sets the rate. */
  nextChangeAt?: number
}

/** Sets the origin rate at each boundary of its schedule (see the module comment). */
export class RateSchedule {
  private readonly c: RateScheduleComponents
  private readonly windows: ScheduleWindow[]
  private readonly base: number
  private timer?: NodeJS.Timeout
  private current?: ReturnType<typeof rateAt>

  constructor(components: RateScheduleComponents, windows: ScheduleWindow[], baseBytesPerSecond: number) {
    this.c = components
    this.windows = windows
    this.base = baseBytesPerSecond
  }

  start(): void {
    this.apply()
  }

  stop(): void {
    clearTimeout(this.timer)
    this.timer = undefined
  }

  status(): OriginScheduleStatus {
    return {
      windows: this.windows.map((w) => w.text),
      ...(this.current?.window === undefined ? {} : { window: this.current.window.text }),
      ...(this.current?.nextChangeAt === undefined
        ? {}
        : { nextChangeAt: this.current.nextChangeAt.getTime() }),
    }
  }

  private apply(): void {
    const now = this.c.now?.() ?? new Date()
    this.current = rateAt(this.windows, this.base, now)
    this.c.setOriginRate(this.current.rate)
    clearTimeout(this.timer)
    const next = this.current.nextChangeAt
    if (next === undefined) return
    // a timer holds at most ~24.8 days, and a clock set meanwhile is read again at the wake-up
    const wait = Math.min(Math.max(0, next.getTime() - now.getTime()), MAX_TIMER_MS)
    this.timer = setTimeout(() => this.apply(), wait)
    this.timer.unref()
  }
}
