/**
 * `npm run bench -- store [--size-mib 512]`: why `FsChunkStore` appends chunk bytes to
 * segment files with `level` as the index, measured against one file per chunk (the
 * store's earlier layout) and against keeping the bytes inside `level` itself, and what
 * direct I/O (the origin's setting) changes. With direct I/O each chunk is first copied
 * into one of the store's aligned buffers (the origin reads uploads straight into them);
 * that copy is counted.
 *
 * Every layout stores the same 1 MiB chunks (4 writes in flight, as the origin's ingest
 * window), reads them all back, then deletes half and writes as many new ones (the
 * churn of a device cache), with the same durability (no fsync) and no hashing (the
 * store is given the digests), so only the layout differs. CPU time counts every
 * thread of this process, including libuv's file-system threads and the kernel work
 * done on their behalf.
 *
 * Rounds: this VM's hypervisor takes back guest memory nobody uses, and the first write
 * into such pages costs several times more CPU, so one run proves little. The layouts
 * take turns for four rounds, each deleting its files after its run; the first round
 * (fresh memory) is dropped and the table shows the median of the other three.
 */
import { randomFillSync } from 'node:crypto'
import { mkdir, open, readFile, rm, unlink } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { Level } from 'level'
import { blake3 } from '../node/content/index.ts'
import { FsChunkStore, type Hasher } from '../node/store/index.ts'
import { printTable, writeResults } from './lib/report.ts'

const MiB = 1024 * 1024
const WINDOW = 4
const { values } = parseArgs({ options: { 'size-mib': { type: 'string', default: '512' } } })
const count = Number(values['size-mib'])
const work = join(dirname(fileURLToPath(import.meta.url)), '.tmp', 'store')
await rm(work, { recursive: true, force: true })
await mkdir(work, { recursive: true })

const chunks = Array.from({ length: count }, () => randomFillSync(Buffer.allocUnsafe(MiB)))
const fresh = Array.from({ length: count / 2 }, () => randomFillSync(Buffer.allocUnsafe(MiB)))
const digests = new Map<Uint8Array, Uint8Array>([...chunks, ...fresh].map((c) => [c, blake3(c)]))
/** The digests were computed above: the layouts are compared without hashing. */
const known: Hasher = { hash: async (bytes) => ({ bytes, digest: digests.get(bytes)! }) }

/** The operations a layout offers the benchmark. */
interface Layout {
  open(): Promise<void>
  put(i: number, bytes: Uint8Array): Promise<unknown>
  get(i: number): Promise<unknown>
  del(i: number): Promise<unknown>
  close(): Promise<void>
}

interface Phase {
  mibs: number
  cpuPerGiB: number
}

/** Runs `op` over `n` items with {@link WINDOW} in flight. */
async function phase(n: number, op: (i: number) => Promise<unknown>): Promise<Phase> {
  const t = performance.now()
  const c = process.cpuUsage()
  const inflight: Array<Promise<unknown>> = []
  for (let i = 0; i < n; i++) {
    inflight.push(op(i))
    if (inflight.length >= WINDOW) await inflight.shift()
  }
  await Promise.all(inflight)
  const cpu = process.cpuUsage(c)
  return {
    mibs: n / ((performance.now() - t) / 1000),
    cpuPerGiB: ((cpu.user + cpu.system) / 1e6) * (1024 / n),
  }
}

const keys = chunks.map((_, i) => `chunk-${i}`)
const freshKeys = fresh.map((_, i) => `fresh-${i}`)

function segmentsLayout(dir: string, directIo = false): Layout {
  const store = new FsChunkStore({ dir, hasher: known, directIo })
  const cid = new Map<number, Awaited<ReturnType<FsChunkStore['add']>>>()
  /** With direct I/O, chunks go through the store's aligned buffers, as the origin reads into them. */
  const aligned: Uint8Array[] = []
  return {
    open: async () => {
      await store.start()
      for (let i = 0; directIo && i < WINDOW; i++) {
        const buf = await store.chunkBuffer(MiB)
        if (buf === undefined) throw new Error(`no direct I/O in ${dir}`)
        aligned.push(buf)
      }
    },
    put: async (i, bytes) => {
      let source = bytes
      if (directIo) {
        // phase() starts put i only after put i - WINDOW has finished: its buffer is free
        source = aligned[i % WINDOW]
        source.set(bytes)
        digests.set(source, digests.get(bytes)!)
      }
      cid.set(i, await store.add(source))
    },
    get: (i) => store.get(cid.get(i)!),
    del: (i) => store.delete(cid.get(i)!),
    close: () => store.stop(),
  }
}

function filePerChunkLayout(dir: string): Layout {
  const db = new Level<string, string>(join(dir, 'index'))
  const path = (i: number): string => join(dir, String(i % 256), String(i))
  return {
    open: async () => {
      await db.open()
      for (let d = 0; d < 256; d++) await mkdir(join(dir, String(d)), { recursive: true })
    },
    put: async (i, bytes) => {
      const fh = await open(path(i), 'w')
      await fh.write(bytes, 0, bytes.byteLength, 0)
      await fh.close()
      await db.put(String(i), String(bytes.byteLength))
    },
    get: (i) => readFile(path(i)),
    del: async (i) => {
      await db.del(String(i))
      await unlink(path(i))
    },
    close: () => db.close(),
  }
}

function levelLayout(dir: string): Layout {
  const db = new Level<string, Uint8Array>(dir, { valueEncoding: 'view' })
  const key = (i: number): string => (i < count ? keys[i] : freshKeys[i - count])
  return {
    open: () => db.open(),
    put: (i, bytes) => db.put(key(i), bytes),
    get: (i) => db.get(key(i)),
    del: (i) => db.del(key(i)),
    close: () => db.close(),
  }
}

async function measure(make: (dir: string) => Layout, name: string): Promise<Record<string, Phase>> {
  const dir = join(work, name)
  await mkdir(dir, { recursive: true })
  const layout = make(dir)
  await layout.open()
  const write = await phase(count, (i) => layout.put(i, chunks[i]))
  const read = await phase(count, (i) => layout.get(i))
  const churn = await phase(count / 2, async (i) => {
    await layout.del(i)
    await layout.put(count + i, fresh[i])
  })
  await layout.close()
  await rm(dir, { recursive: true, force: true })
  return { write, read, churn }
}

const layouts = [
  [
    'segments_direct',
    'segment files + level index, direct I/O (the origin)',
    (d: string) => segmentsLayout(d, true),
  ],
  ['segments', 'segment files + level index (nodes, devices)', (d: string) => segmentsLayout(d)],
  ['files', 'one file per chunk + level index', filePerChunkLayout],
  ['level', 'bytes inside level', levelLayout],
] as const
const rounds: Array<Array<Record<string, Phase>>> = layouts.map(() => [])
for (let round = 0; round < 4; round++) {
  for (const [i, [name, , make]] of layouts.entries()) {
    const r = await measure(make, name)
    if (round > 0) rounds[i].push(r)
  }
}
await rm(work, { recursive: true, force: true })
/** Per phase, the run with the median CPU cost. */
const results = rounds.map((runs) => {
  const median = (op: string): Phase => runs.map((r) => r[op]).sort((a, b) => a.cpuPerGiB - b.cpuPerGiB)[1]
  return { write: median('write'), read: median('read'), churn: median('churn') }
})

const figures: Record<string, number> = { chunks: count, chunk_mib: 1, window: WINDOW }
for (const [i, [name]] of layouts.entries()) {
  for (const [op, p] of Object.entries(results[i])) {
    figures[`${name}_${op}_mib_s`] = Math.round(p.mibs)
    figures[`${name}_${op}_cpu_s_per_gib`] = Number(p.cpuPerGiB.toFixed(2))
  }
}
printTable(
  `chunk store layouts, ${count} × 1 MiB chunks, ${WINDOW} in flight, median of 3 rounds (MiB/s, CPU-s per GiB)`,
  layouts.map(([, label], i) => {
    const r = results[i]
    const cell = (p: Phase): string => `${Math.round(p.mibs)} MiB/s, ${p.cpuPerGiB.toFixed(2)} s`
    return { layout: label, write: cell(r.write), read: cell(r.read), 'delete + rewrite half': cell(r.churn) }
  }),
)
console.log(`results: ${writeResults('store', figures)}`)
