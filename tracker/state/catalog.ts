/**
 * Resources and their versions as registered by the origin. A version starts as `draft`
 * and must be approved before a release may carry it. A version the origin deletes is kept
 * as a tombstone (`removed`, `removedAt`): its number is never taken again, and no release
 * may carry it (whether it may be removed is `rollout/version-use.ts`'s to say).
 */
import { isMimeType, parseCid } from '../../node/content/index.ts'
import {
  ConflictError,
  InvalidManifestCidError,
  InvalidMimeTypeError,
  NotFoundError,
  VersionRemovedError,
} from '../errors.ts'
import type { Kv, Tx } from './kv.ts'

/**
 * Review status of a version: `draft` as registered, `approved` for release, `removed` once
 * the origin deleted it (a tombstone: never approved or released again, its number never
 * reused).
 */
export type VersionStatus = 'draft' | 'approved' | 'removed'

/** One registered version of a resource. */
export interface VersionRecord {
  resource: string
  version: number
  manifestCid: string
  size: number
  type: string
  mime?: string
  status: VersionStatus
  registeredAt: number
  approvedAt?: number
  /** When it was removed (epoch ms); set with status `removed`. */
  removedAt?: number
}

/** A resource as `GET /resources` lists it (see {@link Catalog.resources}). */
export interface ResourceSummary {
  name: string
  /** Versions kept: registered and not removed. */
  versions: number
  /** The highest version number registered, removed or not (numbers are never reused). */
  latest: number
  /** The highest approved version (a removed one is no longer approved); absent if none. */
  approved?: number
  /** Versions removed (tombstones); absent if none. */
  removed?: number
}

const key = (resource: string, version: number): string =>
  `ver!${resource}!${String(version).padStart(10, '0')}`

/**
 * Checks a version before it is registered: every node parses the manifest CID of its
 * `place` command, so a malformed one would fail on every node it is released to; the
 * MIME type is what operators and clients are shown, and must be one.
 */
function checkVersionFields(fields: { manifestCid: string; mime?: string }): void {
  // The manifest CID MUST be a CIDv1 with a BLAKE3-256 multihash and the dag-cbor codec
  // (the content model's manifest id, as the node parses it).
  try {
    parseCid(fields.manifestCid, 'manifest')
  } catch (err) {
    throw new InvalidManifestCidError((err as Error).message, { cause: err })
  }
  // A MIME type MUST be `type/subtype`, both tokens (as the content model checks manifests).
  if (fields.mime !== undefined && !isMimeType(fields.mime)) throw new InvalidMimeTypeError(fields.mime)
}

/** Repository of resources and versions. */
export class Catalog {
  private readonly versions = new Map<string, Map<number, VersionRecord>>()

  async load(kv: Kv): Promise<void> {
    for await (const [k, v] of kv.entries('ver!')) this.apply(k, v)
  }

  /** Applies one stored write (`value` undefined: a delete), as loading the store does. */
  apply(key: string, value: unknown): void {
    if (value !== undefined) {
      this.index(value as VersionRecord)
      return
    }
    // ver!<resource>!<version, 10 digits>
    const resource = key.slice(4, -11)
    const m = this.versions.get(resource)
    m?.delete(Number(key.slice(-10)))
    if (m?.size === 0) this.versions.delete(resource)
  }

  private index(v: VersionRecord): void {
    let m = this.versions.get(v.resource)
    if (m === undefined) {
      m = new Map()
      this.versions.set(v.resource, m)
    }
    m.set(v.version, v)
  }

  /**
   * Every resource: how many versions it keeps (removed ones are not counted, they are in
   * `removed`), the highest number registered (`latest`, removed or not: the next one the
   * origin registers is above it), and the highest approved (`approved`: a removed version
   * is not).
   */
  resources(): ResourceSummary[] {
    return [...this.versions.entries()].map(([name, m]) => {
      const list = [...m.values()].sort((a, b) => a.version - b.version)
      const removed = list.filter((v) => v.status === 'removed').length
      const out: ResourceSummary = {
        name,
        versions: list.length - removed,
        latest: list.at(-1)?.version ?? 0,
      }
      const approved = list.filter((v) => v.status === 'approved').at(-1)?.version
      if (approved !== undefined) out.approved = approved
      if (removed > 0) out.removed = removed
      return out
    })
  }

  list(resource: string): VersionRecord[] {
    const m = this.versions.get(resource)
    if (m === undefined) throw new NotFoundError(`resource ${resource}`)
    return [...m.values()].sort((a, b) => a.version - b.version)
  }

  get(resource: string, version: number): VersionRecord {
    const v = this.versions.get(resource)?.get(version)
    if (v === undefined) throw new NotFoundError(`${resource} v${version}`)
    return v
  }

  /** Whether `resource` v`version` is registered and removed. */
  isRemoved(resource: string, version: number): boolean {
    return this.versions.get(resource)?.get(version)?.status === 'removed'
  }

  /**
   * Registers a version as draft. Registering the same (resource, version, CID) again is a
   * no-op, so the origin may retry (also once it was removed: the removed record is
   * returned); a different CID under a taken number, removed or not, is a conflict.
   */
  register(
    tx: Tx,
    fields: Omit<VersionRecord, 'status' | 'registeredAt' | 'approvedAt' | 'removedAt'>,
  ): VersionRecord {
    checkVersionFields(fields)
    const old = this.versions.get(fields.resource)?.get(fields.version)
    if (old !== undefined) {
      if (old.manifestCid === fields.manifestCid) return old
      const removed = old.status === 'removed' ? ' (removed: version numbers are never reused)' : ''
      throw new ConflictError(`${fields.resource} v${fields.version} exists with another manifest${removed}`)
    }
    const rec: VersionRecord = { ...fields, status: 'draft', registeredAt: Date.now() }
    this.index(rec)
    tx.put(key(rec.resource, rec.version), rec)
    return rec
  }

  /** Approves a draft version; an approved one is returned as it is, a removed one refused. */
  approve(tx: Tx, resource: string, version: number): VersionRecord {
    const old = this.get(resource, version)
    if (old.status === 'approved') return old
    if (old.status === 'removed') throw new VersionRemovedError(old, 'approved')
    const rec: VersionRecord = { ...old, status: 'approved', approvedAt: Date.now() }
    this.index(rec)
    tx.put(key(resource, version), rec)
    return rec
  }

  /**
   * Marks a version removed (a tombstone, kept: see the module comment); one removed already
   * is returned as it is. Whether nothing uses it any more is the caller's to check first.
   */
  remove(tx: Tx, resource: string, version: number, now = Date.now()): VersionRecord {
    const old = this.get(resource, version)
    if (old.status === 'removed') return old
    const rec: VersionRecord = { ...old, status: 'removed', removedAt: now }
    this.index(rec)
    tx.put(key(resource, version), rec)
    return rec
  }
}
