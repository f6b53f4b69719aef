/**
 * The audit trail of the admin API: every change an operator (or a script) made through it,
 * as it was asked (method, route, ids, body) and answered, and by whom, newest kept. So a
 * rollout paused at 3 a.m., a node deleted or a token issued can be traced to when, what and
 * who: the operator whose token made it (`state/operator-tokens.ts`), or the tracker's own
 * admin token (`admin-token`). Viewers change nothing.
 */
import { MAX_AUDIT_ENTRIES } from '../constants.ts'
import type { Kv, Tx } from './kv.ts'

/** One change made through the admin API. */
export interface AuditEntry {
  /** Increasing from 1 (kept across restarts). */
  seq: number
  at: number
  method: string
  /** The route as declared, e.g. `/api/v1/releases/:id/:op`. */
  route: string
  /** Its params, e.g. `{ id, op }`. */
  params?: Record<string, string>
  /** The request body, as JSON text cut to `MAX_AUDIT_BODY_CHARS`. */
  body?: string
  status: number
  /**
   * Who made it: an operator's name (its operator token), or `admin-token` (the tracker's own
   * admin token). Absent from entries written before operators existed (unknown).
   */
  actor?: string
}

const PREFIX = 'audit!'
const key = (seq: number): string => `${PREFIX}${String(seq).padStart(15, '0')}`

/** Repository of the audit trail. */
export class AuditLog {
  /** Oldest first. */
  private readonly entries: AuditEntry[] = []

  async load(kv: Kv): Promise<void> {
    for await (const [k, v] of kv.entries(PREFIX)) this.apply(k, v)
  }

  /** Applies one stored write (`value` undefined: a delete), as loading the store does. */
  apply(k: string, value: unknown): void {
    if (value === undefined) {
      const at = this.entries.findIndex((e) => key(e.seq) === k)
      if (at >= 0) this.entries.splice(at, 1)
      return
    }
    const e = value as AuditEntry
    // appended in order; a reload reads them in key order
    if (this.entries.length === 0 || (this.entries.at(-1) as AuditEntry).seq < e.seq) this.entries.push(e)
  }

  /** Records `entry` in `tx` as the next one, dropping the oldest past the most kept. */
  record(tx: Tx, entry: Omit<AuditEntry, 'seq'>): AuditEntry {
    const e: AuditEntry = { seq: (this.entries.at(-1)?.seq ?? 0) + 1, ...entry }
    this.entries.push(e)
    tx.put(key(e.seq), e)
    while (this.entries.length > MAX_AUDIT_ENTRIES) tx.del(key((this.entries.shift() as AuditEntry).seq))
    return e
  }

  /**
   * Up to `limit` entries before `before` (a seq; the newest when undefined), newest first;
   * with `actor`, only the changes it made.
   */
  page(limit: number, before?: number, actor?: string): AuditEntry[] {
    const out: AuditEntry[] = []
    for (let i = this.entries.length - 1; i >= 0 && out.length < limit; i--) {
      const e = this.entries[i] as AuditEntry
      if ((before === undefined || e.seq < before) && (actor === undefined || e.actor === actor)) out.push(e)
    }
    return out
  }
}
