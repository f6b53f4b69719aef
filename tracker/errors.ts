/**
 * Typed errors of the tracker. Each has a stable `name`, a `code` and the HTTP `status`
 * the admin API answers with. Match them by name or code, never by message text.
 *
 * They live by theme in the files beside this one, re-exported here so that importers (and
 * `index.ts`) name one module: the base and the generic ones in `base-errors.ts`, versions
 * in `catalog-errors.ts`, releases in `release-errors.ts`, inventory and enrollment in
 * `inventory-errors.ts`, the state store in `state-errors.ts`; operator tokens have
 * `operator-errors.ts`.
 */
export * from './base-errors.ts'
export * from './catalog-errors.ts'
export * from './inventory-errors.ts'
export * from './release-errors.ts'
export * from './state-errors.ts'
