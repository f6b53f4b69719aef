/**
 * A full disk under an on-disk store. The file system's own error (`ENOSPC: no space left
 * on device, write`) names neither the directory nor what to do, and some of its forms name
 * a file inside the store (`open '…/segments/12.seg'`, LevelDB's `…/index/000005.log`); the
 * operator reading it in `GET /status` needs the store's directory and the fix instead.
 */
import { DandelionError } from '../errors.ts'

/** The codes the file system reports a full disk (or a user's disk quota) with. */
export type DiskFullCode = 'ENOSPC' | 'EDQUOT'

/**
 * The disk holding an on-disk chunk store is full. `code` is the file system's
 * (`ENOSPC`, or `EDQUOT` for a user's disk quota), kept so that what matched the raw
 * error by its code still matches; `cause` is that raw error. The message names only the
 * store's directory, never the file the write was for.
 */
export class DiskFullError extends DandelionError {
  override name = 'DiskFullError'
  /** The store's directory. */
  readonly dir: string
  constructor(dir: string, code: DiskFullCode, cause?: unknown) {
    super(
      `no space left on the disk holding the chunk store ${dir} (${code}): free space on that disk`,
      code,
      { cause },
    )
    this.dir = dir
  }
}

/**
 * Whether `err` (or an error it wraps) says the disk is full, and with which code. The file
 * system reports `ENOSPC` or `EDQUOT`; LevelDB (the store's index) reports only an
 * `LEVEL_IO_ERROR` whose text carries the C library's message, so that text is the one thing
 * there is to match (as `origin/errors.ts` does).
 */
export function diskFullCode(err: unknown): DiskFullCode | undefined {
  for (let e = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    const code = (e as NodeJS.ErrnoException).code
    if (code === 'ENOSPC' || code === 'EDQUOT') return code
    if (code === 'LEVEL_IO_ERROR') {
      if (/No space left on device/.test(e.message)) return 'ENOSPC'
      if (/Disk quota exceeded/.test(e.message)) return 'EDQUOT'
    }
  }
  return undefined
}

/** `err` as a {@link DiskFullError} naming `dir` when it says the disk is full; else `err` unchanged. */
export function asDiskFull(err: unknown, dir: string): unknown {
  if (err instanceof DiskFullError) return err
  const code = diskFullCode(err)
  return code === undefined ? err : new DiskFullError(dir, code, err)
}
