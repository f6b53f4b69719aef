/**
 * The tracker's persistent state: repositories kept in memory and written through a
 * group-committing level batch. Load once at start; change through {@link TrackerState.tx}.
 */
import type { StateUnavailableError } from '../errors.ts'
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
  CurrentRef,
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

  /**
   * Set once a write of the state failed (disk full, I/O error). From then on memory may
   * hold changes the disk does not (a Tx changes memory first and has no undo), so the
   * tracker fails stop: {@link tx} throws, the admin API answers 503 to everything and the
   * channel delivers nothing, until a restart reloads the disk. An operations team gets one
   * clear error ("free the disk, restart the tracker") instead of a tracker that shows or
   * sends releases it told them had failed; nodes keep running what they run meanwhile.
   */
  get failure(): StateUnavailableError | undefined {
    return this.writer.failure
  }

  /** A new change set; throws {@link StateUnavailableError} once a write failed. */
  tx(): Tx {
    if (this.writer.failure !== undefined) throw this.writer.failure
    return new Tx(this.writer)
  }
}
