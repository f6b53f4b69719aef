/**
 * `Idempotency-Key` on release creation (IETF draft-ietf-httpapi-idempotency-key-header):
 * an operator's script or the CLI that retries a `POST /releases` whose answer it never
 * got (a dropped connection, a timeout) must not start a second, overlapping rollout of
 * the same lesson. Here: the header parsed, the request's fingerprint, and the creates
 * under a key ({@link IdempotentCreates}: the replay, the refusals).
 */
import { createHash } from 'node:crypto'
import { IdempotencyKeyInUseError, IdempotencyKeyReusedError, ValidationError } from '../errors.ts'
import type { Release, Releases } from '../state/releases.ts'
import type { CreateReleaseInput } from './engine-types.ts'

/** Longest key accepted (UUIDs are 36 characters; the draft sets no limit). */
export const MAX_IDEMPOTENCY_KEY_LENGTH = 255

/**
 * The key of an `Idempotency-Key` header, or `undefined` when there is none. The draft's
 * form is a quoted structured-field string (`"8e03978e-…"`); a bare token, as most
 * clients send, is accepted too.
 */
export function parseIdempotencyKey(header: string | string[] | undefined): string | undefined {
  if (header === undefined) return undefined
  if (Array.isArray(header)) throw new ValidationError('Idempotency-Key must be sent once')
  const quoted = /^"(.*)"$/.exec(header.trim())
  // a structured-field string escapes `"` and `\` with a backslash
  const key = quoted === null ? header.trim() : quoted[1].replace(/\\(["\\])/g, '$1')
  if (!isIdempotencyKey(key))
    throw new ValidationError(
      `Idempotency-Key must be 1 to ${MAX_IDEMPOTENCY_KEY_LENGTH} visible ASCII characters without spaces`,
    )
  return key
}

/** True if `key` is 1 to {@link MAX_IDEMPOTENCY_KEY_LENGTH} visible ASCII characters, as the tracker requires. */
export function isIdempotencyKey(key: string): boolean {
  return key.length > 0 && key.length <= MAX_IDEMPOTENCY_KEY_LENGTH && /^[\x21-\x7e]+$/.test(key)
}

/** A digest of a request body that ignores key order and absent (`undefined`) fields. */
export function fingerprintOf(body: unknown): string {
  return createHash('sha256').update(canonical(body)).digest('base64url')
}

function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map((x) => (x === undefined ? 'null' : canonical(x))).join(',')}]`
  if (v !== null && typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>)
      .filter(([, x]) => x !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${canonical(x)}`).join(',')}}`
  }
  return JSON.stringify(v) ?? 'null'
}

/**
 * Creates under an `Idempotency-Key` (`RolloutEngine.createIdempotent`): the first request
 * with a key creates the release, the same request again answers with it, the key with
 * another request is refused, and so is a retry while the first is being committed.
 */
export class IdempotentCreates {
  /** `Idempotency-Key`s of creates being committed now. */
  private readonly creating = new Set<string>()

  /**
   * Answers `key`'s request from `releases` if it was created already, else runs `create`
   * with the key and the request's fingerprint (see `RolloutEngine.createIdempotent`).
   */
  async run(
    releases: Releases,
    key: string,
    input: CreateReleaseInput,
    create: (input: CreateReleaseInput, idempotency: Release['idempotency']) => Promise<Release>,
  ): Promise<{ release: Release; replayed: boolean }> {
    if (this.creating.has(key)) throw new IdempotencyKeyInUseError()
    const fingerprint = fingerprintOf(input)
    const existing = releases.byIdempotencyKey(key)
    if (existing !== undefined) {
      if (existing.idempotency?.fingerprint !== fingerprint) throw new IdempotencyKeyReusedError(existing.id)
      return { release: existing, replayed: true }
    }
    this.creating.add(key)
    try {
      return { release: await create(input, { key, fingerprint }), replayed: false }
    } finally {
      this.creating.delete(key)
    }
  }
}
