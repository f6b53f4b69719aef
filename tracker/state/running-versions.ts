/**
 * What each node runs per resource, as it last reported active (`cur!`): what a rollback
 * returns it to, and what reconciliation compares with. Kept by the releases' repository
 * (`releases.ts`), which answers for it.
 */
import type { Tx } from './kv.ts'
import type { CurrentRef } from './release-types.ts'

/** The versions nodes run, by node and resource. */
export class RunningVersions {
  private readonly current = new Map<string, CurrentRef>()
  /**
   * Every resource some node has been recorded running ({@link current}): a deleted node's
   * are forgotten even where no release of the resource is kept any more.
   */
  private readonly runResources = new Set<string>()

  /** Applies one stored write of `cur!<k>` (`value` undefined: a delete), as loading the store does. */
  apply(k: string, value: unknown): void {
    if (value === undefined) this.current.delete(k)
    else {
      this.current.set(k, value as CurrentRef)
      this.runResources.add(k.slice(k.indexOf('!') + 1))
    }
  }

  /** Version a node runs for a resource, as last reported active. */
  get(nodeId: string, resource: string): CurrentRef | undefined {
    return this.current.get(`${nodeId}!${resource}`)
  }

  /** Sets what a node runs. `ref` is shared with the readers' copy: never change it after. */
  set(tx: Tx, nodeId: string, resource: string, ref: CurrentRef | undefined): void {
    const k = `${nodeId}!${resource}`
    if (ref === undefined) {
      this.current.delete(k)
      tx.del(`cur!${k}`)
    } else {
      this.current.set(k, ref)
      this.runResources.add(resource)
      tx.putShared(`cur!${k}`, ref)
    }
  }

  /** Forgets everything `nodeId` was recorded running (it was deleted). */
  forgetNode(tx: Tx, nodeId: string): void {
    for (const resource of this.runResources)
      if (this.current.has(`${nodeId}!${resource}`)) this.set(tx, nodeId, resource, undefined)
  }

  /** The resources some node has been recorded running (whether or not a release of it is kept). */
  resources(): ReadonlySet<string> {
    return this.runResources
  }
}
