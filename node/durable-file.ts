/**
 * Files that survive a power cut, not only a killed process: the bytes are on disk
 * before the rename makes them visible, and the rename is on disk before the call
 * resolves. Without the first, a renamed file can come back empty after a power cut;
 * without the second, the old file can come back.
 */
import { randomBytes } from 'node:crypto'
import { open, rename, unlink } from 'node:fs/promises'
import { dirname } from 'node:path'

/** Options of {@link writeFileDurably}. */
export interface WriteDurablyOptions {
  /** Permissions of a new file (a key: 0o600). @default 0o666 less the umask */
  mode?: number
}

/** Replaces `path` with `data` atomically and durably. */
export async function writeFileDurably(
  path: string,
  data: string | Uint8Array,
  options: WriteDurablyOptions = {},
): Promise<void> {
  const tmp = `${path}.${randomBytes(4).toString('hex')}.tmp`
  try {
    // `wx`: a file of this name left by someone else is never written through
    const fh = await open(tmp, 'wx', options.mode ?? 0o666)
    try {
      await fh.writeFile(data)
      await fh.datasync()
    } finally {
      await fh.close()
    }
    await rename(tmp, path)
  } catch (err) {
    await unlink(tmp).catch(() => {})
    throw err
  }
  await syncDir(dirname(path))
}

/** Makes the entries of `dir` (a rename, an unlink) durable. */
export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r')
  try {
    await fh.sync()
  } catch (err) {
    // some platforms and file systems cannot sync a directory; there is nothing more to do
    const code = (err as NodeJS.ErrnoException).code
    if (code !== 'EINVAL' && code !== 'EISDIR' && code !== 'EPERM') throw err
  } finally {
    await fh.close()
  }
}
