/**
 * An in-memory {@link AgentContentApi} for agent tests: records every call so tests can
 * check what the agent made the node do.
 */
import type { AgentContentApi, FetchProgress, NodeHealth } from '../../../node/agent/index.ts'

export class MemoryContent implements AgentContentApi {
  readonly calls: string[] = []
  readonly pinned = new Set<string>()
  readonly table = new Map<string, string>()
  /** Manifest CIDs whose fetch fails. */
  readonly failing = new Set<string>()
  /** Resolves fetches only when released (lets a test hold a fetch in flight). */
  gate?: Promise<void>
  /** The health the node reports (a test changes it); none: it reports nothing. */
  healthNow?: NodeHealth

  async fetch(
    cid: string,
    options: { signal?: AbortSignal; onProgress?: (p: FetchProgress) => void },
  ): Promise<unknown> {
    this.calls.push(`fetch ${cid}`)
    options.onProgress?.({ peerBytes: 600, originBytes: 400, totalBytes: 1000 })
    if (this.gate !== undefined) {
      // a fetch in flight ends when its signal aborts, as the node's does
      const signal = options.signal
      await Promise.race([
        this.gate,
        new Promise<never>((_, reject) => {
          if (signal?.aborted === true) reject(signal.reason)
          signal?.addEventListener('abort', () => reject(signal.reason), { once: true })
        }),
      ])
    }
    if (this.failing.has(cid)) throw new Error(`cannot fetch ${cid}`)
    return { cid }
  }
  async pin(cid: string): Promise<void> {
    this.calls.push(`pin ${cid}`)
    this.pinned.add(cid)
  }
  async unpin(cid: string): Promise<void> {
    this.calls.push(`unpin ${cid}`)
    this.pinned.delete(cid)
  }
  async evict(cid: string): Promise<void> {
    this.calls.push(`evict ${cid}`)
  }
  health(): NodeHealth | undefined {
    return this.healthNow === undefined ? undefined : structuredClone(this.healthNow)
  }
  readonly names = {
    get: (name: string) => this.table.get(name),
    set: (name: string, cid: string) => {
      this.calls.push(`activate ${name} ${cid}`)
      this.table.set(name, cid)
    },
    delete: (name: string) => {
      this.calls.push(`deactivate ${name}`)
      this.table.delete(name)
    },
  }
}
