/**
 * Opening the journal's level database, with a repair path. leveldb, finding a damaged
 * file, either refuses to open (a garbled CURRENT or MANIFEST) or opens and silently drops
 * what it cannot read (a garbled write-ahead log, which it then deletes): either way the
 * dedup record is lost, and before this the daemon either stopped with the raw `level`
 * error or applied again commands it had applied.
 *
 * So, at each start: the files are first hard-linked into `<dir>.opening` (no copy; leveldb
 * replaces files rather than changing them, so the links keep the bytes as they were).
 * Then the database is opened; if it refuses for damage, `ClassicLevel.repair` rebuilds it
 * from what it can read and it is opened again; if that fails too, it is started anew.
 * Whenever something was lost — refused, repaired, or opened with records dropped (leveldb's
 * info log says so, or files that held data gave no record at all) — the links are kept as
 * `<dir>.damaged-<time>` for the operator and {@link JournalDamage} says what happened; else
 * they are removed. A lock held by another process or a directory this user cannot use is
 * no damage: {@link JournalOpenError}, nothing touched.
 */
import { constants } from 'node:fs'
import { access, copyFile, link, mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { Level } from 'level'
import { JournalOpenError } from './errors.ts'

/** What was found damaged when the journal was opened. */
export interface JournalDamage {
  /** What leveldb reported, and what was done. */
  reason: string
  /** Where the files as they were before this start are kept (absent: they could not be). */
  keptAt?: string
  /** The journal was started anew: it holds nothing from before. */
  fresh: boolean
}

/**
 * Level's error codes that mean damaged files (not a lock, not permissions): leveldb's
 * corruption and I/O errors, and a record that is not the JSON the journal wrote.
 */
const DAMAGE_CODES = new Set(['LEVEL_CORRUPTION', 'LEVEL_IO_ERROR', 'LEVEL_DECODE_ERROR'])
/** Lines of leveldb's info log telling that it dropped records while opening. */
const DROPPED = /corruption|dropping \d+ bytes/i
/** Files that hold records (write-ahead logs and tables). */
const DATA_FILE = /\.(log|ldb|sst)$/

/** Opens (repairing or replacing if damaged) the journal database in `dir`. */
export async function openLevelJournal(
  location: string,
  now = new Date(),
): Promise<{ db: Level<string, unknown>; damage?: JournalDamage }> {
  // no trailing separator: the copies go beside the directory, never inside it
  const dir = resolve(location)
  try {
    await access(dir, constants.R_OK | constants.W_OK | constants.X_OK)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
      throw new JournalOpenError(dir, `cannot use the directory: ${(err as Error).message}`, { cause: err })
  }
  const snapshot = await linkSnapshot(dir)
  const stamp = now.toISOString().replace(/[:.]/g, '-')
  let kept: Promise<string | undefined> | undefined
  // the files as they were, renamed once; a copy that cannot be kept is no reason not to start
  const keep = (): Promise<string | undefined> => {
    kept ??=
      snapshot === undefined
        ? Promise.resolve(undefined)
        : rename(snapshot.path, `${dir}.damaged-${stamp}`).then(
            () => `${dir}.damaged-${stamp}`,
            () => undefined,
          )
    return kept
  }
  try {
    let refused: unknown
    try {
      const db = await openDb(dir, true)
      const dropped = await droppedOnOpen(dir)
      const readNothing = (snapshot?.dataBytes ?? 0) > 0 && (await isEmpty(db))
      if (dropped === undefined && !readNothing) return { db }
      const reason = dropped ?? 'its files hold data but no record could be read'
      return {
        db,
        damage: { reason: `opened with records lost (${reason})`, keptAt: await keep(), fresh: readNothing },
      }
    } catch (err) {
      refused = err
    }
    if (!isDamage(refused))
      throw new JournalOpenError(dir, `cannot open: ${describe(refused)}`, { cause: refused })
    try {
      await repair(dir)
      const db = await openDb(dir, true)
      return { db, damage: { reason: `${describe(refused)}; repaired`, keptAt: await keep(), fresh: false } }
    } catch (err) {
      // neither opened nor repaired: a new journal, the old files kept aside
      const keptAt = await keep()
      if (keptAt === undefined) await rename(dir, `${dir}.damaged-${stamp}`)
      else await rm(dir, { recursive: true, force: true })
      const db = await openDb(dir)
      return {
        db,
        damage: {
          reason: `${describe(refused)}; repair failed (${describe(err)}): started anew`,
          keptAt: keptAt ?? `${dir}.damaged-${stamp}`,
          fresh: true,
        },
      }
    }
  } catch (err) {
    if (err instanceof JournalOpenError) throw err
    throw new JournalOpenError(dir, `damaged, and could not be replaced: ${describe(err)}`, { cause: err })
  } finally {
    if (snapshot !== undefined) await rm(snapshot.path, { recursive: true, force: true }).catch(() => {})
  }
}

/**
 * leveldb's `RepairDB`: in Node, `level`'s `Level` is classic-level's `ClassicLevel`, whose
 * static `repair` its types do not declare.
 */
async function repair(dir: string): Promise<void> {
  const { repair } = Level as unknown as { repair?: (location: string) => Promise<void> }
  if (repair === undefined) throw new Error('this level has no repair')
  await repair.call(Level, dir)
}

/**
 * Opens the database; with `verify`, reads every record once (the journal is small): a
 * damaged table opens without a word, and failed only at the first read of its records.
 */
async function openDb(dir: string, verify = false): Promise<Level<string, unknown>> {
  const db = new Level<string, unknown>(dir, { valueEncoding: 'json' })
  await db.open()
  if (!verify) return db
  try {
    for await (const _ of db.iterator()) {
    }
  } catch (err) {
    await db.close().catch(() => {})
    throw err
  }
  return db
}

/** The storage error under level's `LEVEL_DATABASE_NOT_OPEN`. */
function rootCause(err: unknown): { code?: string; message?: string } {
  const e = err as { code?: string; message?: string; cause?: unknown }
  return e?.cause !== undefined && e.cause !== null ? rootCause(e.cause) : (e ?? {})
}

function isDamage(err: unknown): boolean {
  return DAMAGE_CODES.has(rootCause(err).code ?? '')
}

function describe(err: unknown): string {
  const c = rootCause(err)
  return c.code === undefined ? String(c.message ?? err) : `${c.code} ${c.message ?? ''}`.trim()
}

/** The first line of leveldb's info log (this open's) saying records were dropped. */
async function droppedOnOpen(dir: string): Promise<string | undefined> {
  const log = await readFile(join(dir, 'LOG'), 'utf8').catch(() => '')
  const line = log.split('\n').find((l) => DROPPED.test(l))
  // the line starts with a date and a thread id
  return line?.replace(/^\S+ \S+ /, '').slice(0, 300)
}

async function isEmpty(db: Level<string, unknown>): Promise<boolean> {
  for await (const _ of db.keys({ limit: 1 })) return false
  return true
}

/**
 * Links every file of `dir` into `<dir>.opening` (copies where links are refused);
 * `undefined` when there is no directory yet.
 */
async function linkSnapshot(dir: string): Promise<{ path: string; dataBytes: number } | undefined> {
  let entries: import('node:fs').Dirent[]
  try {
    entries = await readdir(dir, { withFileTypes: true })
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new JournalOpenError(dir, `cannot read the directory: ${(err as Error).message}`, { cause: err })
  }
  const path = `${dir}.opening`
  await rm(path, { recursive: true, force: true })
  await mkdir(path)
  let dataBytes = 0
  for (const e of entries) {
    if (!e.isFile() || e.name === 'LOCK') continue
    const from = join(dir, e.name)
    await link(from, join(path, e.name)).catch(() => copyFile(from, join(path, e.name)))
    if (DATA_FILE.test(e.name)) dataBytes += (await stat(from)).size
  }
  return { path, dataBytes }
}
