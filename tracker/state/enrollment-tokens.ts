/**
 * Enrollment tokens an operator issues through the admin API, besides the tracker's shared
 * one: each may be held to one campus, expires, may enroll a limited number of nodes, and can
 * be revoked. The tracker keeps only a SHA-256 of each token's secret: the token itself is
 * shown once, when it is issued, and a copy of the state directory enrolls nothing.
 *
 * A token reads `det_<id>_<secret>`: the id (16 hex digits) finds its record, the secret
 * (32 random bytes, base64url) is compared by hash in constant time. A token of another form
 * is not one of these (the shared token, or a wrong one).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { ENROLLMENT_TOKEN_RETENTION_MS, MAX_ENROLLMENT_TOKENS } from '../constants.ts'
import {
  CapacityError,
  EnrollmentTokenCampusError,
  EnrollmentTokenExpiredError,
  EnrollmentTokenUsedUpError,
  NotFoundError,
} from '../errors.ts'
import type { Kv, Tx } from './kv.ts'

/** An issued enrollment token as the tracker keeps it (never its secret). */
export interface EnrollmentTokenRecord {
  id: string
  /** SHA-256 of the secret, hex. Never shown by the API. */
  hash: string
  /** The campus every node it enrolls belongs to; absent: the node's own `--campus`. */
  campus?: string
  /** What the operator wrote it for (shown in lists). */
  note?: string
  createdAt: number
  /** After this (epoch ms) it enrolls nothing. */
  expiresAt: number
  /** How many nodes it may enroll; absent: any number until it expires. */
  maxUses?: number
  /** Nodes it enrolled. */
  uses: number
  lastUsedAt?: number
  /** The node it enrolled last. */
  lastNodeId?: string
}

/** What {@link EnrollmentTokens.issue} is given. */
export interface IssueFields {
  campus?: string
  note?: string
  expiresAt: number
  maxUses?: number
}

/** Whether a token still enrolls: `active`, or why not. */
export type EnrollmentTokenState = 'active' | 'expired' | 'used-up'

/** A token's record as the API shows it: without its hash, with its state. */
export type EnrollmentTokenView = Omit<EnrollmentTokenRecord, 'hash'> & { state: EnrollmentTokenState }

const PREFIX = 'etok!'
const TOKEN = /^det_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/

const sha256 = (s: string): Buffer => createHash('sha256').update(s).digest()

/** The state of `r` at `now`. */
export function tokenState(r: EnrollmentTokenRecord, now: number): EnrollmentTokenState {
  if (r.maxUses !== undefined && r.uses >= r.maxUses) return 'used-up'
  return now >= r.expiresAt ? 'expired' : 'active'
}

/** When `r` stopped enrolling (its last use, or its expiry), if it has by `now`. */
function endedAt(r: EnrollmentTokenRecord, now: number): number | undefined {
  const state = tokenState(r, now)
  if (state === 'active') return undefined
  return state === 'used-up' ? (r.lastUsedAt ?? r.createdAt) : r.expiresAt
}

/** `r` as the API shows it at `now`. */
export function tokenView(r: EnrollmentTokenRecord, now = Date.now()): EnrollmentTokenView {
  const { hash: _, ...shown } = r
  return { ...shown, state: tokenState(r, now) }
}

/** Repository of issued enrollment tokens. */
export class EnrollmentTokens {
  private readonly tokens = new Map<string, EnrollmentTokenRecord>()

  async load(kv: Kv): Promise<void> {
    for await (const [k, v] of kv.entries(PREFIX)) this.apply(k, v)
  }

  /** Applies one stored write (`value` undefined: a delete), as loading the store does. */
  apply(key: string, value: unknown): void {
    const id = key.slice(PREFIX.length)
    if (value === undefined) this.tokens.delete(id)
    else this.tokens.set(id, value as EnrollmentTokenRecord)
  }

  /** Every token, oldest first. */
  list(): EnrollmentTokenRecord[] {
    return [...this.tokens.values()].sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : 1))
  }

  get(id: string): EnrollmentTokenRecord {
    const r = this.tokens.get(id)
    if (r === undefined) throw new NotFoundError(`enrollment token ${id}`)
    return r
  }

  /**
   * Issues a token in `tx`: returns its record and the token, the one time it is known. Tokens
   * that stopped enrolling more than {@link ENROLLMENT_TOKEN_RETENTION_MS} ago are deleted in
   * the same change; more than {@link MAX_ENROLLMENT_TOKENS} kept is refused.
   */
  issue(tx: Tx, fields: IssueFields, now = Date.now()): { record: EnrollmentTokenRecord; token: string } {
    const stale = [...this.tokens.values()].filter((r) => {
      const ended = endedAt(r, now)
      return ended !== undefined && ended < now - ENROLLMENT_TOKEN_RETENTION_MS
    })
    // refused before anything changes: a change that fails leaves the memory as it was
    if (this.tokens.size - stale.length >= MAX_ENROLLMENT_TOKENS)
      throw new CapacityError(
        `too many enrollment tokens (${MAX_ENROLLMENT_TOKENS}): revoke the ones no longer needed (DELETE /api/v1/enrollment-tokens/:id)`,
      )
    for (const r of stale) this.revoke(tx, r.id)
    let id: string
    do id = randomBytes(8).toString('hex')
    while (this.tokens.has(id))
    const secret = randomBytes(32).toString('base64url')
    const record: EnrollmentTokenRecord = {
      id,
      hash: sha256(secret).toString('hex'),
      ...(fields.campus === undefined ? {} : { campus: fields.campus }),
      ...(fields.note === undefined ? {} : { note: fields.note }),
      createdAt: now,
      expiresAt: fields.expiresAt,
      ...(fields.maxUses === undefined ? {} : { maxUses: fields.maxUses }),
      uses: 0,
    }
    this.write(tx, record)
    return { record, token: `det_${id}_${secret}` }
  }

  /** Deletes token `id` in `tx`: it enrolls nothing from then on. */
  revoke(tx: Tx, id: string): void {
    if (!this.tokens.has(id)) throw new NotFoundError(`enrollment token ${id}`)
    this.tokens.delete(id)
    tx.del(PREFIX + id)
  }

  /**
   * The issued token `token` is, if it is one: undefined for a token of another form, or one
   * whose id or secret matches no token kept (revoked, or never issued). The caller decides
   * whether it may enroll ({@link checkUse}).
   */
  find(token: string): EnrollmentTokenRecord | undefined {
    const m = TOKEN.exec(token)
    if (m === null) return undefined
    const r = this.tokens.get(m[1] as string)
    if (r === undefined) return undefined
    // the secret is compared by its hash, in constant time
    return timingSafeEqual(sha256(m[2] as string), Buffer.from(r.hash, 'hex')) ? r : undefined
  }

  /**
   * Throws if `r` may not enroll a node into `campus` (the node's own, or the one it was
   * registered in) at `now`: expired, used up, or held to another campus. Returns the campus
   * the node enrolls into.
   */
  checkUse(r: EnrollmentTokenRecord, campus: string | undefined, now: number): string | undefined {
    const state = tokenState(r, now)
    if (state === 'used-up') throw new EnrollmentTokenUsedUpError(r.id, r.maxUses as number)
    if (state === 'expired') throw new EnrollmentTokenExpiredError(r.id, r.expiresAt)
    if (r.campus !== undefined && campus !== undefined && campus !== r.campus)
      throw new EnrollmentTokenCampusError(r.id, r.campus, campus)
    return r.campus ?? campus
  }

  /** Counts one enrollment of node `nodeId` by token `id`, in `tx`. */
  use(tx: Tx, id: string, nodeId: string, now: number): void {
    const r = this.get(id)
    // a changed copy: the readers' copy is parsed from what is written
    this.write(tx, { ...r, uses: r.uses + 1, lastUsedAt: now, lastNodeId: nodeId })
  }

  private write(tx: Tx, r: EnrollmentTokenRecord): void {
    this.tokens.set(r.id, r)
    tx.put(PREFIX + r.id, r)
  }
}
