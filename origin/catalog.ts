/**
 * The origin's catalog in `level`: resources, their numbered versions and the
 * manifest bytes. A version is committed in one batch together with the record of
 * the upload it came from, so a crash never leaves a half-published version and a
 * re-run ingest of the same upload is recognised.
 *
 * A version is private when it was uploaded with an upload grant (a homework photo): the
 * origin leaves it out of its listings and out of the tracker's catalog, and serves it only
 * to whoever has its exact name. Records written before versions could be private have no
 * `private` field: they are public.
 */
import { Level } from 'level'
import type { ContentType } from '../node/content/index.ts'

/** One published version of a resource. */
export interface PublishedVersion {
  name: string
  /** 1, 2, 3… per resource name. */
  version: number
  manifestCid: string
  size: number
  type: ContentType
  mime: string
  /** Milliseconds since the epoch. */
  createdAt: number
  /** Uploaded with an upload grant: unlisted, never registered with the tracker. Absent when public. */
  private?: true
}

/** A resource and its latest version number. */
export interface ResourceSummary {
  name: string
  type: ContentType
  latestVersion: number
  versions: number
  /**
   * Every version is private: the resource is unlisted. One public version makes the whole
   * resource public (listed), its private versions still marked. Absent when public.
   */
  private?: true
}

const pad = (n: number): string => String(n).padStart(10, '0')
/** What follows `v!<name>!` in a version key of that very resource (not of `<name>!more`). */
const VERSION_SUFFIX_RE = /^\d{10}$/

/** Level-backed store of resources, versions and manifests. */
export class Catalog {
  private readonly db: Level<string, string>
  private readonly manifests
  /** Manifests of removed versions whose chunks may not all be deleted yet. */
  private readonly removing
  private commitChain: Promise<unknown> = Promise.resolve()

  constructor(path: string) {
    this.db = new Level<string, string>(path, { cacheSize: 2 * 1024 * 1024, writeBufferSize: 1024 * 1024 })
    this.manifests = this.db.sublevel<string, Uint8Array>('manifests', { valueEncoding: 'view' })
    this.removing = this.db.sublevel<string, Uint8Array>('removing', { valueEncoding: 'view' })
  }

  async open(): Promise<void> {
    await this.db.open()
  }

  async close(): Promise<void> {
    await this.db.close()
  }

  /**
   * Publishes a new version of `name` with its manifest, atomically, and remembers
   * which upload it came from. Returns the existing version when `uploadId` was
   * already published.
   */
  async commit(
    entry: Omit<PublishedVersion, 'version'>,
    manifestBytes: Uint8Array,
    uploadId?: string,
  ): Promise<PublishedVersion> {
    // Serialise commits: version numbers are read-increment-write.
    const run = this.commitChain.then(async () => {
      if (uploadId !== undefined) {
        const done = await this.byUpload(uploadId)
        if (done !== undefined) return done
      }
      const resource = await this.resource(entry.name)
      const version = (resource?.latestVersion ?? 0) + 1
      const published: PublishedVersion = { ...entry, version }
      const summary: ResourceSummary = {
        name: entry.name,
        type: entry.type,
        latestVersion: version,
        versions: (resource?.versions ?? 0) + 1,
      }
      if (entry.private === true && (resource === undefined || resource.private === true))
        summary.private = true
      const batch = this.db.batch()
      batch.put(`r!${entry.name}`, JSON.stringify(summary))
      batch.put(`v!${entry.name}!${pad(version)}`, JSON.stringify(published))
      batch.put(`m!${entry.manifestCid}`, JSON.stringify(published))
      batch.put(entry.manifestCid, manifestBytes, { sublevel: this.manifests, valueEncoding: 'view' })
      if (uploadId !== undefined) batch.put(`u!${uploadId}`, JSON.stringify(published))
      await batch.write({ sync: true })
      return published
    })
    this.commitChain = run.catch(() => {})
    return await run
  }

  /**
   * Removes version `version` of `name` from the catalog, atomically: its records, the
   * uploads it came from, its manifest (moved to the `removing` list, see
   * {@link pendingRemovals}) and one from its resource's count. Serialised with commits.
   * Returns the removed version and its manifest bytes, or `undefined` if there is none.
   */
  async remove(
    name: string,
    version: number,
  ): Promise<{ version: PublishedVersion; manifestBytes?: Uint8Array } | undefined> {
    const run = this.commitChain.then(async () => {
      const v = await this.version(name, version)
      if (v === undefined) return undefined
      const bytes = await this.manifestBytes(v.manifestCid)
      const resource = await this.resource(name)
      const batch = this.db.batch()
      if (resource !== undefined)
        batch.put(`r!${name}`, JSON.stringify({ ...resource, versions: Math.max(0, resource.versions - 1) }))
      batch.del(`v!${name}!${pad(version)}`)
      batch.del(`m!${v.manifestCid}`)
      for await (const [k, value] of this.db.iterator({ gt: 'u!', lt: 'u"' })) {
        if ((JSON.parse(value) as PublishedVersion).manifestCid === v.manifestCid) batch.del(k)
      }
      batch.del(v.manifestCid, { sublevel: this.manifests })
      if (bytes !== undefined)
        batch.put(v.manifestCid, bytes, { sublevel: this.removing, valueEncoding: 'view' })
      await batch.write({ sync: true })
      return bytes === undefined ? { version: v } : { version: v, manifestBytes: bytes }
    })
    this.commitChain = run.catch(() => {})
    return await run
  }

  /** Manifests of removed versions whose chunks are still to be deleted, by manifest CID. */
  async pendingRemovals(): Promise<Array<[string, Uint8Array]>> {
    const out: Array<[string, Uint8Array]> = []
    for await (const entry of this.removing.iterator()) out.push(entry)
    return out
  }

  /** The chunks of removed manifest `cid` are deleted: forgets it. */
  async removalDone(cid: string): Promise<void> {
    await this.removing.del(cid)
  }

  /** The version an upload became, if it was published. */
  async byUpload(uploadId: string): Promise<PublishedVersion | undefined> {
    return this.json<PublishedVersion>(`u!${uploadId}`)
  }

  /** A resource's summary. */
  async resource(name: string): Promise<ResourceSummary | undefined> {
    return this.json<ResourceSummary>(`r!${name}`)
  }

  /** Every resource, by name. */
  async resources(): Promise<ResourceSummary[]> {
    const out: ResourceSummary[] = []
    // '"' follows '!': a bound of '\uffff' would leave out names past U+FFFF (their UTF-8 sorts higher)
    for await (const v of this.db.values({ gt: 'r!', lt: 'r"' })) out.push(JSON.parse(v) as ResourceSummary)
    return out
  }

  /** The versions of a resource, oldest first. */
  async versions(name: string): Promise<PublishedVersion[]> {
    const out: PublishedVersion[] = []
    const prefix = `v!${name}!`
    // names may hold '!': the versions of `math!grade3` sort among those of `math`
    for await (const [k, v] of this.db.iterator({ gt: prefix, lt: `v!${name}"` })) {
      if (VERSION_SUFFIX_RE.test(k.slice(prefix.length))) out.push(JSON.parse(v) as PublishedVersion)
    }
    return out
  }

  /** Every version of every resource. */
  async allVersions(): Promise<PublishedVersion[]> {
    const out: PublishedVersion[] = []
    for await (const v of this.db.values({ gt: 'v!', lt: 'v"' })) out.push(JSON.parse(v) as PublishedVersion)
    return out
  }

  /** One version of a resource. */
  async version(name: string, version: number): Promise<PublishedVersion | undefined> {
    return this.json<PublishedVersion>(`v!${name}!${pad(version)}`)
  }

  /** The version a manifest CID identifies. */
  async byManifest(cid: string): Promise<PublishedVersion | undefined> {
    return this.json<PublishedVersion>(`m!${cid}`)
  }

  /** A manifest's encoded bytes. */
  async manifestBytes(cid: string): Promise<Uint8Array | undefined> {
    return (await this.manifests.get(cid)) ?? undefined
  }

  private async json<T>(key: string): Promise<T | undefined> {
    const v = await this.db.get(key)
    return v === undefined ? undefined : (JSON.parse(v) as T)
  }
}
