/**
 * The body of `PUT /limits` on a node's local API: which of the node's rates to change.
 * Each is bytes per second, a positive number, or `null` for no limit (JSON has no
 * Infinity); a rate left out is kept.
 */
import type { Limits } from '../index.ts'

/** The body of `PUT /limits` is not a set of rates. */
export class InvalidLimitsError extends Error {
  override name = 'InvalidLimitsError'
}

const KEYS: ReadonlyArray<keyof Limits> = [
  'uploadBytesPerSecond',
  'downloadBytesPerSecond',
  'originBytesPerSecond',
]

/** Checks a request body and returns the rates it sets (`Infinity` for `null`). */
export function parseLimits(body: unknown): Partial<Limits> {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw new InvalidLimitsError(`expected a JSON object with any of ${KEYS.join(', ')}`)
  const out: Partial<Limits> = {}
  for (const [key, value] of Object.entries(body)) {
    if (!(KEYS as string[]).includes(key))
      throw new InvalidLimitsError(`unknown limit ${JSON.stringify(key)}; known: ${KEYS.join(', ')}`)
    if (value === null) out[key as keyof Limits] = Number.POSITIVE_INFINITY
    else if (typeof value === 'number' && Number.isFinite(value) && value > 0)
      out[key as keyof Limits] = value
    else
      throw new InvalidLimitsError(`${key} must be a positive number of bytes per second, or null for none`)
  }
  if (Object.keys(out).length === 0)
    throw new InvalidLimitsError(`no limit given: set any of ${KEYS.join(', ')}`)
  return out
}

/** The rates as JSON can carry them: `null` where there is no limit. */
export function limitsJson(limits: Limits): Record<keyof Limits, number | null> {
  const out = {} as Record<keyof Limits, number | null>
  for (const key of KEYS) out[key] = Number.isFinite(limits[key]) ? limits[key] : null
  return out
}
