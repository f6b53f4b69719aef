/**
 * The name table: resource name → the manifest CID of its active version on this node.
 * The tracker's agent switches it at activation time; the playback server's
 * `GET /content/by-name/:resource` streams whatever it points at.
 */
import { Level } from 'level'
import { MAX_NAMES } from './node-constants.ts'
import { LimitReachedError } from './swarm/errors.ts'

/** One entry of the name table. */
export interface NameEntry {
  name: string
  manifestCid: string
}

/** Resource name → active manifest CID. */
export interface NameTable {
  get(name: string): Promise<string | undefined>
  set(name: string, manifestCid: string): Promise<void>
  delete(name: string): Promise<void>
  list(): Promise<NameEntry[]>
  open(): Promise<void>
  close(): Promise<void>
}

/** In memory: the default, and what tests and short-lived embedded nodes use. */
export class MemoryNameTable implements NameTable {
  private readonly map = new Map<string, string>()

  async open(): Promise<void> {}
  async close(): Promise<void> {}

  async get(name: string): Promise<string | undefined> {
    return this.map.get(name)
  }

  async set(name: string, manifestCid: string): Promise<void> {
    this.assertRoom(name)
    this.map.set(name, manifestCid)
  }

  /** @throws LimitReachedError when `name` is new and the table holds {@link MAX_NAMES} already */
  assertRoom(name: string): void {
    if (!this.map.has(name) && this.map.size >= MAX_NAMES)
      throw new LimitReachedError(`more than ${MAX_NAMES} names`)
  }

  async delete(name: string): Promise<void> {
    this.map.delete(name)
  }

  async list(): Promise<NameEntry[]> {
    return [...this.map].map(([name, manifestCid]) => ({ name, manifestCid }))
  }
}

/** Persisted in a `level` database at `dir`; reads are served from memory. */
export class LevelNameTable implements NameTable {
  private readonly db: Level<string, string>
  private readonly cache = new MemoryNameTable()

  constructor(dir: string) {
    this.db = new Level<string, string>(dir)
  }

  async open(): Promise<void> {
    await this.db.open()
    for await (const [k, v] of this.db.iterator()) await this.cache.set(k, v)
  }

  async close(): Promise<void> {
    await this.db.close()
  }

  async get(name: string): Promise<string | undefined> {
    return await this.cache.get(name)
  }

  /**
   * Disk first, synced, then memory: a write that fails (ENOSPC) changes nothing playback
   * serves, and once this resolves (and the agent journals the activation as applied) a
   * power cut cannot take the change back.
   */
  async set(name: string, manifestCid: string): Promise<void> {
    this.cache.assertRoom(name)
    await this.db.put(name, manifestCid, { sync: true })
    await this.cache.set(name, manifestCid)
  }

  async delete(name: string): Promise<void> {
    await this.db.del(name, { sync: true })
    await this.cache.delete(name)
  }

  async list(): Promise<NameEntry[]> {
    return await this.cache.list()
  }
}
