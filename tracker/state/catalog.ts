/**
 * Resources and their versions as registered by the origin. A version starts as `draft`
 * and must be approved before a release may carry it.
 */
import { isMimeType, parseCid } from '../../node/content/index.ts'
import { ConflictError, InvalidManifestCidError, InvalidMimeTypeError, NotFoundError } from '../errors.ts'
import type { Kv, Tx } from './kv.ts'

/** Review status of a version. */
export type VersionStatus = 'draft' | 'approved'

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

  resources(): Array<{ name: string; versions: number; latest: number; approved: number | undefined }> {
    return [...this.versions.entries()].map(([name, m]) => {
      const list = [...m.values()].sort((a, b) => a.version - b.version)
      const approved = list.filter((v) => v.status === 'approved').at(-1)?.version
      return { name, versions: list.length, latest: list.at(-1)?.version ?? 0, approved }
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

  /**
   * Registers a version as draft. Registering the same (resource, version, CID) again is a
   * no-op, so the origin may retry; a different CID under a taken number is a conflict.
   */
  register(tx: Tx, fields: Omit<VersionRecord, 'status' | 'registeredAt' | 'approvedAt'>): VersionRecord {
    checkVersionFields(fields)
    const old = this.versions.get(fields.resource)?.get(fields.version)
    if (old !== undefined) {
      if (old.manifestCid === fields.manifestCid) return old
      throw new ConflictError(`${fields.resource} v${fields.version} exists with another manifest`)
    }
    const rec: VersionRecord = { ...fields, status: 'draft', registeredAt: Date.now() }
    this.index(rec)
    tx.put(key(rec.resource, rec.version), rec)
    return rec
  }

  approve(tx: Tx, resource: string, version: number): VersionRecord {
    const old = this.get(resource, version)
    if (old.status === 'approved') return old
    const rec: VersionRecord = { ...old, status: 'approved', approvedAt: Date.now() }
    this.index(rec)
    tx.put(key(resource, version), rec)
    return rec
  }
}
