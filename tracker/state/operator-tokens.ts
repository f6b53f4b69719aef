/**
 * Operator tokens: a credential of the admin API for each person or script of an operations
 * team, issued with the tracker's own admin token, each named, with a role (`admin`: every
 * change but managing operator tokens; `viewer`: reads only), maybe expiring, and revocable
 * alone. The audit trail names the operator whose token made each change.
 *
 * As for enrollment tokens (`enrollment-tokens.ts`), the tracker keeps only a SHA-256 of each
 * token's secret: the token is shown once, when it is issued, and a copy of the state
 * directory or a backup authenticates nothing. A token reads `dop_<id>_<secret>`: the id (16
 * hex digits) finds its record, the secret (32 random bytes, base64url) is compared by hash in
 * constant time. A revoked or expired token is kept, and refused with its own code, until it
 * is swept ({@link OPERATOR_TOKEN_RETENTION_MS} later): its name stays readable in the list
 * the audit trail refers to.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import {
  MAX_OPERATOR_TOKENS,
  OPERATOR_LAST_USED_RESOLUTION_MS,
  OPERATOR_TOKEN_RETENTION_MS,
} from '../constants.ts'
import { CapacityError, ReservedIdError } from '../errors.ts'
import {
  OperatorNameInUseError,
  OperatorNotFoundError,
  OperatorTokenExpiredError,
  OperatorTokenRevokedError,
} from '../operator-errors.ts'
import type { Kv, Tx } from './kv.ts'

/** What an operator token may do: `admin` changes, `viewer` only reads. */
export type OperatorRole = 'admin' | 'viewer'

/** The actor the audit trail names for a change made with the tracker's own admin token. */
export const ADMIN_TOKEN_ACTOR = 'admin-token'
/** The actor of a request made with the tracker's shared viewer token (it changes nothing). */
export const VIEWER_TOKEN_ACTOR = 'viewer-token'
/** Names no operator may take: the audit trail's actors of the tracker's own tokens. */
const RESERVED = new Set([ADMIN_TOKEN_ACTOR, VIEWER_TOKEN_ACTOR])
/** An operator's name: lower-case letters, digits, `.`, `_`, `-`, 1–64, a letter or digit first. */
export const OPERATOR_NAME_PATTERN = '^[a-z0-9][a-z0-9._-]{0,63}$'

/** An issued operator token as the tracker keeps it (never its secret). */
export interface OperatorTokenRecord {
  /** 16 hex digits, in the token; several tokens of one name over time have their own. */
  id: string
  /** Who holds it: named in the audit trail for every change it makes. */
  name: string
  role: OperatorRole
  /** SHA-256 of the secret, hex. Never shown by the API. */
  hash: string
  createdAt: number
  /** After this (epoch ms) it is refused; absent: it does not expire. */
  expiresAt?: number
  /** When it was revoked; from then on it is refused. */
  revokedAt?: number
  /** Its last request, to within {@link OPERATOR_LAST_USED_RESOLUTION_MS}. */
  lastUsedAt?: number
}

/** What {@link OperatorTokens.issue} is given. */
export interface IssueOperatorFields {
  name: string
  role: OperatorRole
  expiresAt?: number
}

/** Whether a token is taken: `active`, or why not. */
export type OperatorTokenState = 'active' | 'expired' | 'revoked'

/** A token's record as the API shows it: without its hash, with its state. */
export type OperatorTokenView = Omit<OperatorTokenRecord, 'hash'> & { state: OperatorTokenState }

const PREFIX = 'optok!'
const TOKEN = /^dop_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/

const sha256 = (s: string): Buffer => createHash('sha256').update(s).digest()

/** The state of `r` at `now`. */
export function operatorState(r: OperatorTokenRecord, now: number): OperatorTokenState {
  if (r.revokedAt !== undefined) return 'revoked'
  return r.expiresAt !== undefined && now >= r.expiresAt ? 'expired' : 'active'
}

/** When `r` stopped being taken (revoked, or expired), if it has by `now`. */
function endedAt(r: OperatorTokenRecord, now: number): number | undefined {
  const expired = r.expiresAt !== undefined && r.expiresAt <= now ? r.expiresAt : undefined
  if (r.revokedAt === undefined) return expired
  return Math.min(r.revokedAt, expired ?? r.revokedAt)
}

/** `r` as the API shows it at `now`. */
export function operatorView(r: OperatorTokenRecord, now = Date.now()): OperatorTokenView {
  const { hash: _, ...shown } = r
  return { ...shown, state: operatorState(r, now) }
}

/** Repository of the operator tokens. */
export class OperatorTokens {
  /** By id. */
  private readonly tokens = new Map<string, OperatorTokenRecord>()

  async load(kv: Kv): Promise<void> {
    for await (const [k, v] of kv.entries(PREFIX)) this.apply(k, v)
  }

  /** Applies one stored write (`value` undefined: a delete), as loading the store does. */
  apply(key: string, value: unknown): void {
    const id = key.slice(PREFIX.length)
    if (value === undefined) this.tokens.delete(id)
    else this.tokens.set(id, value as OperatorTokenRecord)
  }

  /** Every token kept, oldest first. */
  list(): OperatorTokenRecord[] {
    return [...this.tokens.values()].sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : 1))
  }

  /** Tokens active at `now`. */
  activeCount(now: number): number {
    let n = 0
    for (const r of this.tokens.values()) if (operatorState(r, now) === 'active') n++
    return n
  }

  /**
   * Issues a token for operator `fields.name` in `tx`: returns its record and the token, the
   * one time it is known. Refused for a name that has an active token
   * ({@link OperatorNameInUseError}; one revoked or expired may be issued again) or is
   * reserved. Tokens revoked or expired more than {@link OPERATOR_TOKEN_RETENTION_MS} ago are
   * deleted in the same change; more than {@link MAX_OPERATOR_TOKENS} kept is refused.
   */
  issue(
    tx: Tx,
    fields: IssueOperatorFields,
    now = Date.now(),
  ): { record: OperatorTokenRecord; token: string } {
    // the trail's own actors: an operator of one of these names would pass for the tracker's token
    if (RESERVED.has(fields.name)) throw new ReservedIdError('operator', fields.name)
    if ([...this.tokens.values()].some((r) => r.name === fields.name && operatorState(r, now) === 'active'))
      throw new OperatorNameInUseError(fields.name)
    const stale = [...this.tokens.values()].filter((r) => {
      const ended = endedAt(r, now)
      return ended !== undefined && ended < now - OPERATOR_TOKEN_RETENTION_MS
    })
    // refused before anything changes: a change that fails leaves the memory as it was
    if (this.tokens.size - stale.length >= MAX_OPERATOR_TOKENS)
      throw new CapacityError(
        `too many operator tokens (${MAX_OPERATOR_TOKENS}): revoke the ones no longer needed (DELETE /api/v1/operators/:name); revoked ones are deleted ${OPERATOR_TOKEN_RETENTION_MS / 86_400_000} days later`,
      )
    for (const r of stale) {
      this.tokens.delete(r.id)
      tx.del(PREFIX + r.id)
    }
    let id: string
    do id = randomBytes(8).toString('hex')
    while (this.tokens.has(id))
    const secret = randomBytes(32).toString('base64url')
    const record: OperatorTokenRecord = {
      id,
      name: fields.name,
      role: fields.role,
      hash: sha256(secret).toString('hex'),
      createdAt: now,
      ...(fields.expiresAt === undefined ? {} : { expiresAt: fields.expiresAt }),
    }
    this.write(tx, record)
    return { record, token: `dop_${id}_${secret}` }
  }

  /**
   * Revokes operator `name`'s tokens in `tx` (the active one, and any expired one not yet
   * revoked): from then on each is refused with `ERR_OPERATOR_TOKEN_REVOKED`. Returns them.
   * Throws {@link OperatorNotFoundError} if none is left to revoke.
   */
  revoke(tx: Tx, name: string, now = Date.now()): OperatorTokenRecord[] {
    const mine = [...this.tokens.values()].filter((r) => r.name === name)
    const live = mine.filter((r) => r.revokedAt === undefined)
    if (live.length === 0)
      throw new OperatorNotFoundError(
        name,
        mine.length === 0 ? undefined : Math.max(...mine.map((r) => r.revokedAt as number)),
      )
    // changed copies: the readers' copy is parsed from what is written
    return live.map((r) => this.write(tx, { ...r, revokedAt: now }))
  }

  /**
   * The operator token `token` is, if it is one: undefined for a token of another form, or one
   * whose id or secret matches no token kept (never issued, or swept). The caller decides
   * whether it is taken ({@link checkUse}).
   */
  find(token: string): OperatorTokenRecord | undefined {
    const m = TOKEN.exec(token)
    if (m === null) return undefined
    const r = this.tokens.get(m[1] as string)
    if (r === undefined) return undefined
    // the secret is compared by its hash, in constant time
    return timingSafeEqual(sha256(m[2] as string), Buffer.from(r.hash, 'hex')) ? r : undefined
  }

  /** Throws if `r` is not taken at `now`: revoked, or expired. */
  checkUse(r: OperatorTokenRecord, now: number): void {
    const state = operatorState(r, now)
    if (state === 'revoked') throw new OperatorTokenRevokedError(r.name, r.revokedAt as number)
    if (state === 'expired') throw new OperatorTokenExpiredError(r.name, r.expiresAt as number)
  }

  /**
   * Records in `tx` that token `id` was used at `now`, unless its last use recorded is less
   * than {@link OPERATOR_LAST_USED_RESOLUTION_MS} before. Whether it wrote anything.
   */
  touch(tx: Tx, id: string, now: number): boolean {
    const r = this.tokens.get(id)
    if (r === undefined) return false
    if (r.lastUsedAt !== undefined && now - r.lastUsedAt < OPERATOR_LAST_USED_RESOLUTION_MS) return false
    this.write(tx, { ...r, lastUsedAt: now })
    return true
  }

  private write(tx: Tx, r: OperatorTokenRecord): OperatorTokenRecord {
    this.tokens.set(r.id, r)
    tx.put(PREFIX + r.id, r)
    return r
  }
}
