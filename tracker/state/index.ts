/**
 * The tracker's persistent state: repositories kept in memory and written through a
 * group-committing level batch. Load once at start; change through {@link TrackerState.tx}.
 */
import { Catalog } from './catalog.ts'
import { Inventory } from './inventory.ts'
import { GroupWriter, type Kv, LevelKv, MemoryKv, Tx } from './kv.ts'
import { Outbox } from './outbox.ts'
import { Releases } from './releases.ts'

export type { Catalog, VersionRecord, VersionStatus } from './catalog.ts'
export type { Campus, City, Device, Inventory, NodeRecord } from './inventory.ts'
export { type Kv, LevelKv, MemoryKv, Tx } from './kv.ts'
export type { Outbox, OutboxEntry } from './outbox.ts'
export type {
  NodeState,
  Release,
  ReleaseNode,
  ReleaseStatus,
  Releases,
  StageSpec,
  VersionRef,
} from './releases.ts'

/** All repositories over one {@link Kv}. */
export class TrackerState {
  readonly inventory = new Inventory()
  readonly catalog = new Catalog()
  readonly releases = new Releases()
  readonly outbox = new Outbox()
  private readonly kv: Kv
  private readonly writer: GroupWriter

  /** State in `dir` (level), or in memory when `dir` is undefined. */
  constructor(dir?: string) {
    this.kv = dir === undefined ? new MemoryKv() : new LevelKv(dir)
    this.writer = new GroupWriter(this.kv)
  }

  async open(): Promise<void> {
    await this.kv.open()
    await this.inventory.load(this.kv)
    await this.catalog.load(this.kv)
    await this.releases.load(this.kv)
    await this.outbox.load(this.kv)
  }

  async close(): Promise<void> {
    await this.writer.flush()
    await this.kv.close()
  }

  /** A new change set. */
  tx(): Tx {
    return new Tx(this.writer)
  }
}
