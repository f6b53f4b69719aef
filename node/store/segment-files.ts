/**
 * The open files of {@link Segments}. At most {@link MAX_OPEN_SEGMENTS} segments keep their
 * files open: past that, the least recently used idle one is closed (and opened again when
 * next read). A campus store of 1 TiB is 16 384 segments; keeping every file open once
 * read or written ran the process out of descriptors (`EMFILE`), after which reads,
 * writes and connections all failed.
 */
import { type FileHandle, open, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { logger } from '@libp2p/logger'
import { DIRECT_WRITE_FLAGS } from './direct-io.ts'

/** Segments whose files stay open at once (each holds one descriptor, two with direct writes). */
export const MAX_OPEN_SEGMENTS = 64

/** What a segment's files depend on: its name, how it was made, and who uses it now. */
export interface SegmentFile {
  id: number
  /** Created by this process (opened with truncate), rather than found at start. */
  fresh: boolean
  /** Its file exists: opened again, it is opened without truncating. */
  created?: boolean
  handle?: Promise<FileHandle>
  /** Opened for direct writes (see `direct-io.ts`). */
  directHandle?: Promise<FileHandle>
  /** Readers and writers now: an idle file may be closed, a busy one never. */
  users: number
  /** Deleted from the segments: its file goes once nobody uses it. */
  dropped: boolean
}

const log = logger('dandelion:store')
const SUFFIX = '.seg'

/** The segment files of one directory that are open, within a bound. */
export class SegmentFiles {
  private readonly dir: string
  private readonly maxOpen: number
  /** The segment new chunks go to: its file stays open. */
  private readonly active: () => SegmentFile | undefined
  /** Segments with open files, least recently used first (Map keeps insertion order). */
  private readonly opened = new Map<number, SegmentFile>()

  constructor(dir: string, maxOpen: number, active: () => SegmentFile | undefined) {
    this.dir = dir
    this.maxOpen = maxOpen
    this.active = active
  }

  /** The id of a segment file's name; `undefined` when the name is not a segment's. */
  static idOf(name: string): number | undefined {
    const id = Number(name.slice(0, -SUFFIX.length))
    return name.endsWith(SUFFIX) && Number.isSafeInteger(id) && id > 0 ? id : undefined
  }

  /** The path of segment `id`'s file. */
  pathOf(id: number): string {
    return join(this.dir, `${id}${SUFFIX}`)
  }

  /** The segment's file, opened if it is not; call while the segment counts a user. */
  handle(s: SegmentFile): Promise<FileHandle> {
    this.opened.delete(s.id)
    if (!s.dropped) this.opened.set(s.id, s)
    if (s.handle === undefined) {
      // positional writes: never open with O_APPEND, which ignores the position
      const opening = open(this.pathOf(s.id), s.fresh && s.created !== true ? 'w+' : 'r+')
      s.handle = opening
      opening.then(
        () => {
          s.created = true
        },
        () => {
          // not kept: a failure (EMFILE, say) is not the file's for ever
          if (s.handle === opening) s.handle = undefined
        },
      )
      this.closeIdle()
    }
    return s.handle
  }

  /** The segment's file opened for direct writes; call while the segment counts a user. */
  async directHandle(s: SegmentFile): Promise<FileHandle> {
    await this.handle(s) // creates the file
    if (s.directHandle === undefined) {
      const opening = open(this.pathOf(s.id), DIRECT_WRITE_FLAGS)
      s.directHandle = opening
      opening.catch(() => {
        if (s.directHandle === opening) s.directHandle = undefined
      })
    }
    return await s.directHandle
  }

  /** Closes the files of the least recently used segments nobody reads or writes, down to the bound. */
  closeIdle(): void {
    if (this.opened.size <= this.maxOpen) return
    const active = this.active()
    for (const s of this.opened.values()) {
      if (this.opened.size <= this.maxOpen) return
      if (s.users > 0 || s === active) continue
      this.opened.delete(s.id)
      closeHandles(s).catch((err: Error) => log.error('closing segment %d failed: %s', s.id, err.message))
    }
  }

  /** Closes and deletes a segment's file. Never rejects: a file that cannot be deleted now is dead space the next start finds again. */
  async remove(s: SegmentFile): Promise<void> {
    this.opened.delete(s.id)
    try {
      await closeHandles(s)
      await unlink(this.pathOf(s.id))
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        log.error('deleting segment %d failed: %s', s.id, (err as Error).message)
      }
    }
  }

  /** Closes the files of `segments`, every one of this directory's. */
  async closeAll(segments: SegmentFile[]): Promise<void> {
    this.opened.clear()
    await Promise.all(segments.map(closeHandles))
  }
}

async function closeHandles(s: SegmentFile): Promise<void> {
  const handles = [s.handle, s.directHandle]
  s.handle = undefined
  s.directHandle = undefined
  for (const h of handles) await (await h?.catch(() => undefined))?.close()
}
