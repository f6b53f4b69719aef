/**
 * `npm run bench -- store [--size-mib 512]`: why chunk bytes live in files with `level`
 * as the index, measured against keeping the bytes inside `level` itself. Both runs
 * store the same 1 MiB chunks, then read them all back, then delete half and write
 * as many new ones (the churn of a device cache), with the same durability (no fsync).
 */
import { randomFillSync } from 'node:crypto'
import { mkdir, rm } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { Level } from 'level'
import { chunkCid } from '../node/content/index.ts'
import { FsChunkStore } from '../node/store/index.ts'
import { printTable, writeResults } from './lib/report.ts'

const MiB = 1024 * 1024
const { values } = parseArgs({ options: { 'size-mib': { type: 'string', default: '512' } } })
const count = Number(values['size-mib'])
const work = join(dirname(fileURLToPath(import.meta.url)), '.tmp', 'store')
await rm(work, { recursive: true, force: true })
await mkdir(work, { recursive: true })

const chunks = Array.from({ length: count }, () => randomFillSync(Buffer.allocUnsafe(MiB)))
const fresh = Array.from({ length: count / 2 }, () => randomFillSync(Buffer.allocUnsafe(MiB)))
const cids = chunks.map((c) => chunkCid(c))
const freshCids = fresh.map((c) => chunkCid(c))

interface Result {
  write: number
  read: number
  churn: number
}

const rate = (mib: number, t0: number): number => mib / ((performance.now() - t0) / 1000)

async function levelBytes(): Promise<Result> {
  const db = new Level<string, Uint8Array>(join(work, 'level'), { valueEncoding: 'view' })
  await db.open()
  let t = performance.now()
  for (let i = 0; i < count; i++) await db.put(cids[i].toString(), chunks[i])
  const write = rate(count, t)
  t = performance.now()
  for (let i = 0; i < count; i++) await db.get(cids[i].toString())
  const read = rate(count, t)
  t = performance.now()
  for (let i = 0; i < count / 2; i++) {
    await db.del(cids[i].toString())
    await db.put(freshCids[i].toString(), fresh[i])
  }
  const churn = rate(count / 2, t)
  await db.close()
  return { write, read, churn }
}

async function filesIndexed(): Promise<Result> {
  const store = new FsChunkStore({ dir: join(work, 'files') })
  await store.start()
  let t = performance.now()
  for (let i = 0; i < count; i++) await store.put(cids[i], chunks[i])
  const write = rate(count, t)
  t = performance.now()
  for (let i = 0; i < count; i++) await store.get(cids[i])
  const read = rate(count, t)
  t = performance.now()
  for (let i = 0; i < count / 2; i++) {
    await store.delete(cids[i])
    await store.put(freshCids[i], fresh[i])
  }
  const churn = rate(count / 2, t)
  await store.stop()
  return { write, read, churn }
}

// each variant hashes nothing extra except FsChunkStore's verify-on-put, which is kept
// (it is part of the real path); level gets the raw put
const files = await filesIndexed()
const level = await levelBytes()
await rm(work, { recursive: true, force: true })

const figures = {
  chunks: count,
  chunk_mib: 1,
  files_write_mib_s: Math.round(files.write),
  files_read_mib_s: Math.round(files.read),
  files_churn_mib_s: Math.round(files.churn),
  level_write_mib_s: Math.round(level.write),
  level_read_mib_s: Math.round(level.read),
  level_churn_mib_s: Math.round(level.churn),
}
printTable(`chunk store layouts, ${count} × 1 MiB chunks (files include BLAKE3 verification on put)`, [
  {
    layout: 'files + level index (chosen)',
    write: figures.files_write_mib_s,
    read: figures.files_read_mib_s,
    churn: figures.files_churn_mib_s,
    unit: 'MiB/s',
  },
  {
    layout: 'bytes inside level',
    write: figures.level_write_mib_s,
    read: figures.level_read_mib_s,
    churn: figures.level_churn_mib_s,
    unit: 'MiB/s',
  },
])
console.log(`results: ${writeResults('store', figures)}`)
