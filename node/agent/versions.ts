/**
 * A resource's versions on the node: a version is fetched and pinned before it is named,
 * the version it replaces is let go, and a download that fails or is superseded is dropped.
 */
import { logger } from '@libp2p/logger'
import type { AgentContentApi, FetchProgress } from './index.ts'

const log = logger('dandelion:node:agent:exec')

/** What the versions use of the node and of the executor that switches them. */
export interface VersionsComponents {
  content: AgentContentApi
  /** The executor's stop: a placement aborted while it runs was superseded instead. */
  signal: AbortSignal
  /** Whether a pending activation is to switch a resource to `manifestCid`. */
  waitingFor(manifestCid: string): boolean
  /** The placement in progress is pinned: a newer command no longer aborts it. */
  committed(): void
}

/** See the module comment. */
export class Versions {
  private readonly content: AgentContentApi
  private readonly components: VersionsComponents

  constructor(components: VersionsComponents) {
    this.content = components.content
    this.components = components
  }

  /**
   * Makes `manifestCid` the resource's active version: held and pinned first, then named,
   * then the version it replaces unpinned. Its data stays: eviction takes it when room is
   * needed, and a rollback fetches it again.
   */
  async switchTo(
    resource: string,
    manifestCid: string,
    signal: AbortSignal,
    onProgress?: (p: FetchProgress) => void,
  ): Promise<void> {
    const replaced = await this.content.names.get(resource)
    // hold() commits the placement: from here it is no longer aborted by a newer command
    await this.hold(
      resource,
      manifestCid,
      replaced === manifestCid ? undefined : replaced,
      signal,
      onProgress,
    )
    await this.content.names.set(resource, manifestCid)
    if (replaced !== undefined && replaced !== manifestCid) await this.release(replaced)
  }

  /**
   * Fetches and pins a version. When the store refuses it (a device's quota full of pinned
   * content) and it is to replace `replaced`, that one is let go and the fetch carries on:
   * a device that cannot hold both must be able to evict the old version to take the new.
   * A download that still fails is evicted, so it neither holds room nor resumes at the
   * next start (the node keeps a refused download for its own retries; the tracker, told
   * of the failure, decides whether to send it again), and `replaced` is pinned again.
   * A placement superseded by a newer command is dropped the same way. Once pinned, the
   * placement commits: a newer command no longer aborts it.
   */
  async hold(
    resource: string,
    manifestCid: string,
    replaced: string | undefined,
    signal: AbortSignal,
    onProgress?: (p: FetchProgress) => void,
  ): Promise<void> {
    let letGo = false
    let pinned = false
    try {
      try {
        await this.content.fetch(manifestCid, { signal, onProgress })
      } catch (err) {
        if (!isStoreWriteError(err) || replaced === undefined || signal.aborted) throw err
        log('no room for %s beside %s: letting the replaced version go', manifestCid, replaced)
        letGo = true
        // still the resource's name until the switch: only another resource's use keeps it
        if (!(await this.inUse(replaced, undefined, resource))) await this.content.unpin(replaced)
        await this.content.fetch(manifestCid, { signal, onProgress })
      }
      signal.throwIfAborted()
      await this.content.pin(manifestCid)
      pinned = true
      // checked again after the pin, which a newer command may have arrived during
      signal.throwIfAborted()
      this.components.committed()
    } catch (err) {
      // aborted while the executor runs: superseded by a newer command for the resource
      const superseded = signal.aborted && !this.components.signal.aborted
      if ((isStoreWriteError(err) && !signal.aborted) || superseded) {
        if (!(await this.inUse(manifestCid, resource)))
          await (pinned ? this.content.unpin(manifestCid) : Promise.resolve())
            .then(() => this.content.evict(manifestCid))
            .catch((e) => log.error('evicting the dropped download %s failed: %e', manifestCid, e))
        if (letGo && replaced !== undefined)
          await this.content.pin(replaced).catch((e) => log.error('pinning %s again failed: %e', replaced, e))
      }
      throw err
    }
  }

  /** Unpins a version no resource here has active or waiting for activation. */
  async release(manifestCid: string, resource?: string): Promise<void> {
    if (await this.inUse(manifestCid, resource)) return
    await this.content.unpin(manifestCid)
  }

  /**
   * Whether a resource has `manifestCid` active or placed and waiting for activation
   * (`resource` is checked even where the name table cannot be listed; `except`'s entry is
   * ignored).
   */
  async inUse(manifestCid: string, resource?: string, except?: string): Promise<boolean> {
    if (this.components.waitingFor(manifestCid)) return true
    if (resource !== undefined && (await this.content.names.get(resource)) === manifestCid) return true
    const names = (await this.content.names.list?.()) ?? []
    return names.some((n) => n.manifestCid === manifestCid && n.name !== except)
  }
}

/** A fetch the node's store refused (matched by name: see `node/swarm/errors.ts`). */
function isStoreWriteError(err: unknown): boolean {
  return err instanceof Error && err.name === 'StoreWriteError'
}
