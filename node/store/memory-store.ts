/** An in-memory chunk store: the default for tests and short-lived embedded use. */
import { BaseChunkStore } from './base-store.ts'
import type { ChunkStoreInit } from './index.ts'

/** Keeps chunks in a `Map`; same contract as the on-disk store. */
export class MemoryChunkStore extends BaseChunkStore {
  private readonly data = new Map<string, Uint8Array>()

  constructor(init: ChunkStoreInit = {}) {
    super(init)
  }

  async start(): Promise<void> {
    this.started = true
  }

  async stop(): Promise<void> {
    this.started = false
  }

  protected async readRaw(key: string): Promise<Uint8Array | undefined> {
    return this.data.get(key)
  }

  protected async writeRaw(key: string, bytes: Uint8Array): Promise<void> {
    // a chunk in shared memory belongs to a writer that reuses the buffer: keep a copy
    this.data.set(
      key,
      bytes.buffer instanceof SharedArrayBuffer ? Uint8Array.prototype.slice.call(bytes) : bytes,
    )
  }

  protected async deleteRaw(key: string): Promise<void> {
    this.data.delete(key)
  }

  protected async savePin(): Promise<void> {}
}
