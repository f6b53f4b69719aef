/**
 * One set of the tracker's repositories. The tracker keeps two: the writers' (changed as a
 * change is made, before it is on disk) and the readers' (changed only by writes that
 * reached the disk, see `TrackerState.committed`).
 */
import { Catalog } from './catalog.ts'
import { INVENTORY_PREFIXES, Inventory } from './inventory.ts'
import type { Kv, KvOp } from './kv.ts'
import { Outbox } from './outbox.ts'
import { Releases } from './releases.ts'

/** The repository a stored key belongs to, by the prefix before its first `!`. */
type Owner = 'inventory' | 'catalog' | 'releases' | 'outbox'
const OWNERS = new Map<string, Owner>([
  ...INVENTORY_PREFIXES.map((p) => [p, 'inventory'] as [string, Owner]),
  ['ver', 'catalog'],
  ['rel', 'releases'],
  ['rn', 'releases'],
  ['cur', 'releases'],
  ['seq', 'outbox'],
  ['ob', 'outbox'],
])

/** The repositories over one store. */
export class Repositories {
  readonly inventory = new Inventory()
  readonly catalog = new Catalog()
  readonly releases = new Releases()
  readonly outbox = new Outbox()

  /** Reads everything the store holds. */
  async load(kv: Kv): Promise<void> {
    await this.inventory.load(kv)
    await this.catalog.load(kv)
    await this.releases.load(kv)
    await this.outbox.load(kv)
  }

  /** Applies a batch that reached the store, in order. */
  apply(ops: readonly KvOp[]): void {
    for (const op of ops) {
      const owner = OWNERS.get(op.key.slice(0, op.key.indexOf('!')))
      if (owner !== undefined) this[owner].apply(op.key, op.type === 'put' ? op.value : undefined)
    }
  }
}
