/**
 * Backups of a running tracker, and their restore. A backup is a directory
 * `<dataDir>/backups/<UTC time>/` holding:
 *
 * - `state.ndjson`: every stored entry, one `[key, value]` JSON array per line, read from one
 *   level snapshot while the tracker runs (a change is wholly in it or wholly out of it);
 * - `tracker.key`: the tracker's key (nodes obey only it), mode 0600;
 * - `backup.json`: when it was taken, the entries, bytes and SHA-256 of `state.ndjson`.
 *
 * It is written under a temporary name and renamed once complete and synced, so a backup
 * directory is whole or absent; the newest `keep` are kept. A restore checks the hash and the
 * count before writing anything, and only into a data directory without state.
 */
import { createHash } from 'node:crypto'
import { once } from 'node:events'
import { createReadStream, createWriteStream } from 'node:fs'
import { copyFile, mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { DandelionError } from '../../node/errors.ts'
import type { KvOp } from './kv.ts'
import { LevelKv } from './kv.ts'

/** What `backup.json` says of a backup. */
export interface BackupInfo {
  /** The backup's directory name (its UTC time). */
  name: string
  createdAt: number
  /** Entries in `state.ndjson`. */
  entries: number
  /** Size of `state.ndjson`. */
  bytes: number
  /** SHA-256 of `state.ndjson`, hex. */
  sha256: string
  /** The tracker's PeerId (of `tracker.key`). */
  trackerId: string
}

/** Where a tracker's backups go. */
export const backupsDir = (dataDir: string): string => join(dataDir, 'backups')

const STATE_FILE = 'state.ndjson'
const KEY_FILE = 'tracker.key'
const INFO_FILE = 'backup.json'
/** Entries written to level per batch while restoring. */
const RESTORE_BATCH = 1_000

/** A backup that cannot be restored: missing files, a hash or a count that does not match. */
export class BackupInvalidError extends DandelionError {
  override name = 'BackupInvalidError'
  constructor(dir: string, why: string) {
    super(`${dir} is not a backup this tracker can restore: ${why}`, 'ERR_BACKUP_INVALID')
  }
}

/** A restore into a data directory that already holds a tracker's state or key. */
export class RestoreTargetInUseError extends DandelionError {
  override name = 'RestoreTargetInUseError'
  constructor(dataDir: string, what: string) {
    super(
      `${dataDir} already holds ${what}: restore into an empty data directory (or move that one away first; a running tracker's directory is never overwritten)`,
      'ERR_RESTORE_TARGET_IN_USE',
    )
  }
}

/** A UTC time as a directory name that sorts in time order: `2026-12-07T22-40-49.123Z`. */
const stamp = (ms: number): string => new Date(ms).toISOString().replace(/:/g, '-')

/** Writes `file` with `text` and syncs it to disk. */
async function writeSynced(file: string, text: string | Uint8Array, mode?: number): Promise<void> {
  await writeFile(file, text, mode === undefined ? {} : { mode })
  const fh = await open(file, 'r')
  try {
    await fh.sync()
  } finally {
    await fh.close()
  }
}

/**
 * Writes a backup of `entries` (a snapshot, `TrackerState.snapshot()`) and of the key in
 * `keyFile` under `dataDir`'s backups, then deletes all but the newest `keep`. Returns what
 * its `backup.json` says.
 */
export async function writeBackup(
  entries: AsyncIterable<[string, string]>,
  dataDir: string,
  options: { keep: number; trackerId: string; now?: number },
): Promise<BackupInfo> {
  const createdAt = options.now ?? Date.now()
  const root = backupsDir(dataDir)
  const name = stamp(createdAt)
  const tmp = join(root, `.${name}.partial`)
  await rm(tmp, { recursive: true, force: true })
  await mkdir(tmp, { recursive: true })
  try {
    const hash = createHash('sha256')
    const out = createWriteStream(join(tmp, STATE_FILE))
    let count = 0
    let bytes = 0
    for await (const [k, v] of entries) {
      const line = `[${JSON.stringify(k)},${v}]\n`
      hash.update(line)
      bytes += Buffer.byteLength(line)
      count++
      if (!out.write(line)) await once(out, 'drain')
    }
    out.end()
    await once(out, 'finish')
    const fh = await open(join(tmp, STATE_FILE), 'r')
    try {
      await fh.sync()
    } finally {
      await fh.close()
    }
    await copyFile(join(dataDir, KEY_FILE), join(tmp, KEY_FILE))
    const info: BackupInfo = {
      name,
      createdAt,
      entries: count,
      bytes,
      sha256: hash.digest('hex'),
      trackerId: options.trackerId,
    }
    await writeSynced(join(tmp, INFO_FILE), `${JSON.stringify(info, null, 2)}\n`)
    await rename(tmp, join(root, name))
    await prune(root, options.keep)
    return info
  } catch (err) {
    await rm(tmp, { recursive: true, force: true }).catch(() => {})
    throw err
  }
}

/** A backup's directory name (what {@link stamp} makes): nothing else there is ours to delete. */
const BACKUP_NAME = /^\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}\.\d{3}Z$/

/** Deletes every backup but the newest `keep` (names sort in time order). */
async function prune(root: string, keep: number): Promise<void> {
  const names = (await readdir(root)).filter((n) => BACKUP_NAME.test(n)).sort()
  for (const n of names.slice(0, Math.max(0, names.length - keep)))
    await rm(join(root, n), { recursive: true, force: true })
}

/** The backups kept under `dataDir`, oldest first (unreadable ones left out). */
export async function listBackups(dataDir: string): Promise<BackupInfo[]> {
  let names: string[]
  try {
    names = (await readdir(backupsDir(dataDir))).filter((n) => BACKUP_NAME.test(n)).sort()
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw err
  }
  const out: BackupInfo[] = []
  for (const n of names) {
    try {
      out.push(JSON.parse(await readFile(join(backupsDir(dataDir), n, INFO_FILE), 'utf8')) as BackupInfo)
    } catch {
      // a damaged one: not listed (it is still deleted in its turn, being one of ours)
    }
  }
  return out
}

/** Reads and checks `from`'s `backup.json` against its `state.ndjson` (hash and count). */
async function checkBackup(from: string): Promise<BackupInfo> {
  let info: BackupInfo
  try {
    info = JSON.parse(await readFile(join(from, INFO_FILE), 'utf8')) as BackupInfo
  } catch (err) {
    throw new BackupInvalidError(from, `${INFO_FILE} is missing or unreadable (${(err as Error).message})`)
  }
  try {
    await stat(join(from, KEY_FILE))
  } catch {
    throw new BackupInvalidError(from, `${KEY_FILE} is missing`)
  }
  const hash = createHash('sha256')
  let lines = 0
  try {
    for await (const chunk of createReadStream(join(from, STATE_FILE))) {
      hash.update(chunk as Buffer)
      for (const b of chunk as Buffer) if (b === 0x0a) lines++
    }
  } catch (err) {
    throw new BackupInvalidError(from, `${STATE_FILE} is missing or unreadable (${(err as Error).message})`)
  }
  if (hash.digest('hex') !== info.sha256)
    throw new BackupInvalidError(
      from,
      `${STATE_FILE} does not match the SHA-256 in ${INFO_FILE} (damaged or changed)`,
    )
  if (lines !== info.entries)
    throw new BackupInvalidError(
      from,
      `${STATE_FILE} holds ${lines} entries, ${INFO_FILE} says ${info.entries}`,
    )
  return info
}

/**
 * Restores the backup in `from` into `dataDir`, which must hold no state and no key: checks it
 * whole first, then writes its entries into `dataDir/state` (level) and its key. A tracker
 * started on `dataDir` is then the one backed up, as of the backup's moment.
 */
export async function restoreBackup(from: string, dataDir: string): Promise<BackupInfo> {
  const info = await checkBackup(from)
  for (const [what, path] of [
    ['a tracker state', join(dataDir, 'state')],
    ['a tracker key', join(dataDir, KEY_FILE)],
  ] as const) {
    const exists = await stat(path).then(
      () => true,
      () => false,
    )
    if (exists) throw new RestoreTargetInUseError(dataDir, `${what} (${path})`)
  }
  await mkdir(dataDir, { recursive: true })
  const kv = new LevelKv(join(dataDir, 'state'))
  await kv.open()
  try {
    let ops: KvOp[] = []
    const lines = createInterface({ input: createReadStream(join(from, STATE_FILE)), crlfDelay: Infinity })
    for await (const line of lines) {
      const [key, value] = JSON.parse(line) as [string, unknown]
      ops.push({ type: 'put', key, value: JSON.stringify(value) })
      if (ops.length >= RESTORE_BATCH) {
        await kv.batch(ops)
        ops = []
      }
    }
    await kv.batch(ops, { sync: true })
  } finally {
    await kv.close()
  }
  // last: a restore cut short leaves no key, so it is not mistaken for a whole one (restore
  // refuses the directory until its state is moved away)
  await writeSynced(join(dataDir, KEY_FILE), await readFile(join(from, KEY_FILE)), 0o600)
  return info
}
