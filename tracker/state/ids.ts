/**
 * Rules for the ids operators choose (cities, campuses, nodes, devices). Ids end up as
 * keys of reports and of JSON objects, where the names JavaScript gives a meaning to
 * would reach `Object.prototype` instead of an entry of their own.
 */
import { ReservedIdError } from '../errors.ts'

/** Ids the tracker refuses: property names with a meaning on every JavaScript object. */
export const RESERVED_IDS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype'])

/** Throws {@link ReservedIdError} if `id` is one of {@link RESERVED_IDS}. */
export function checkId(kind: string, id: string): string {
  // An id MUST NOT be a reserved name: a city, campus or node called `__proto__` would
  // index Object.prototype in any plain object keyed by ids.
  if (RESERVED_IDS.has(id)) throw new ReservedIdError(kind, id)
  return id
}
