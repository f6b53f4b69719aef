/**
 * One set of the tracker's repositories. The tracker keeps two: the writers'
 * ({@link Repositories}, changed as a change is made, before it is on disk) and the
 * readers' ({@link CommittedRepositories}, changed only by writes that reached the disk,
 * see `TrackerState.committed`).
 */
import { AuditLog } from './audit.ts'
import { Catalog } from './catalog.ts'
import { EnrollmentTokens } from './enrollment-tokens.ts'
import { INVENTORY_PREFIXES, Inventory } from './inventory.ts'
import type { Kv, KvOp } from './kv.ts'
import { OperatorTokens } from './operator-tokens.ts'
import { Outbox } from './outbox.ts'
import { OutboxCounts } from './outbox-counts.ts'
import { Releases, type ReleasesInit } from './releases.ts'
import { Scrubs } from './scrubs.ts'

/** The repository a stored key belongs to, by the prefix before its first `!`. */
type Owner =
  | 'inventory'
  | 'enrollmentTokens'
  | 'operatorTokens'
  | 'audit'
  | 'catalog'
  | 'releases'
  | 'outbox'
  | 'scrubs'
const OWNERS = new Map<string, Owner>([
  ...INVENTORY_PREFIXES.map((p) => [p, 'inventory'] as [string, Owner]),
  ['etok', 'enrollmentTokens'],
  ['optok', 'operatorTokens'],
  ['audit', 'audit'],
  ['ver', 'catalog'],
  ['rel', 'releases'],
  ['rn', 'releases'],
  ['rm', 'releases'],
  ['cur', 'releases'],
  ['seq', 'outbox'],
  ['ob', 'outbox'],
  ['scrub', 'scrubs'],
])

/** What each repository of a set does with the store. */
interface Stored {
  load(kv: Kv): Promise<void>
  apply(key: string, value: unknown): void
}

/** A set of repositories over one store: loading it, applying batches to it. */
abstract class RepositorySet {
  abstract readonly inventory: Inventory
  abstract readonly enrollmentTokens: EnrollmentTokens
  abstract readonly operatorTokens: OperatorTokens
  abstract readonly audit: AuditLog
  abstract readonly catalog: Catalog
  abstract readonly releases: Releases
  abstract readonly outbox: Stored
  abstract readonly scrubs: Scrubs

  /** Reads everything the store holds. */
  async load(kv: Kv): Promise<void> {
    await this.inventory.load(kv)
    await this.enrollmentTokens.load(kv)
    await this.operatorTokens.load(kv)
    await this.audit.load(kv)
    await this.catalog.load(kv)
    await this.releases.load(kv)
    await this.outbox.load(kv)
    await this.scrubs.load(kv)
  }

  /**
   * Applies a batch that reached the store, in order. Each value is parsed from the text
   * written to the store: a copy of its own, as a restart would load it, which the writers'
   * later changes (made in place on their objects) do not reach; or, written with
   * `Tx.putShared`, the writers' object, which they never change.
   */
  apply(ops: readonly KvOp[]): void {
    for (const op of ops)
      if (op.type === 'del') this.applyOne(op.key, undefined)
      else if (OWNERS.has(op.key.slice(0, op.key.indexOf('!'))))
        this.applyOne(op.key, op.shared ?? JSON.parse(op.value))
  }

  /** Applies one stored value (undefined: a delete) to the repository its key belongs to. */
  applyOne(key: string, value: unknown): void {
    const owner = OWNERS.get(key.slice(0, key.indexOf('!')))
    if (owner !== undefined) this[owner].apply(key, value)
  }
}

/**
 * Prefixes of the stored keys in the order a load reads them, and whether the readers may
 * share the writers' loaded object: release nodes, compacted releases' members and what
 * nodes run, which the writers never change in place (`Tx.putShared`), and outbox entries, of which the readers keep
 * only counts. The rest (inventory, enrollment and operator tokens, catalog, releases) is changed in
 * place, or written with `Tx.put`: readers get a copy.
 */
const LOAD_ORDER: ReadonlyArray<[prefix: string, shared: boolean]> = [
  ...INVENTORY_PREFIXES.map((p) => [p, false] as [string, boolean]),
  ['etok', false],
  ['optok', false],
  ['audit', false],
  ['ver', false],
  ['rel', false],
  ['rn', true],
  ['rm', true],
  ['cur', true],
  ['seq', true],
  ['ob', true],
  ['scrub', false],
]

/**
 * Loads both sets from the store in one read (at start): each stored value is parsed once,
 * for the writers, and shared with or copied for the readers (see {@link LOAD_ORDER}). A
 * restarted tracker thus holds one copy of its largest state, not two.
 */
export async function loadBoth(kv: Kv, writers: Repositories, readers: CommittedRepositories): Promise<void> {
  for (const [prefix, shared] of LOAD_ORDER)
    for await (const [k, v] of kv.entries(`${prefix}!`)) {
      writers.applyOne(k, v)
      readers.applyOne(k, shared ? v : structuredClone(v))
    }
}

/** Options of {@link Repositories}. */
export type RepositoriesInit = ReleasesInit

/** The writers' repositories over one store. */
export class Repositories extends RepositorySet {
  readonly inventory = new Inventory()
  readonly enrollmentTokens = new EnrollmentTokens()
  readonly operatorTokens = new OperatorTokens()
  readonly audit = new AuditLog()
  readonly catalog = new Catalog()
  readonly releases: Releases
  readonly outbox = new Outbox()
  readonly scrubs = new Scrubs()
  constructor(init: RepositoriesInit = {}) {
    super()
    this.releases = new Releases(init)
  }
}

/**
 * The readers' repositories: the inventory, catalog and releases as the writers' are, and
 * of the outbox only its counts (see {@link OutboxCounts}).
 */
export class CommittedRepositories extends RepositorySet {
  readonly inventory = new Inventory()
  readonly enrollmentTokens = new EnrollmentTokens()
  readonly operatorTokens = new OperatorTokens()
  readonly audit = new AuditLog()
  readonly catalog = new Catalog()
  readonly releases = new Releases()
  readonly outbox = new OutboxCounts()
  readonly scrubs = new Scrubs()
}
