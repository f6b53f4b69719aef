/**
 * `npm run bench -- ingest [--size-mib 1024]`: a generated file through the full
 * origin path (tus upload over loopback → chunk → hash → store → signed manifest).
 *
 * The origin chunks and hashes PATCH bodies as they arrive, so its ingest overlaps the
 * upload. The ingest stage alone is therefore measured on its own, in the same run: the
 * same chunk → hash (worker pool) → store → manifest pipeline over the same file read
 * from the page cache (`ingestFile`). Also reported: end-to-end upload MiB/s (first byte
 * sent to version published), the origin process's peak RSS, and single-thread
 * blake3-wasm speed as the baseline.
 */
import { execFileSync, spawn } from 'node:child_process'
import { once } from 'node:events'
import { createReadStream, readFileSync } from 'node:fs'
import { mkdir, open, rm } from 'node:fs/promises'
import { availableParallelism, loadavg } from 'node:os'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { createHash } from 'blake3-wasm'
import { SERVICE_ENV, SERVICE_NODE_FLAGS } from '../node/cli-main.ts'
import { uploadFile } from '../origin/client.ts'
import { FILE_INGEST_CHUNKS_PER_WORKER, FILE_INGEST_RUN_CHUNKS } from '../origin/constants.ts'
import { printTable, sampleRss, writeResults } from './lib/report.ts'

const MiB = 1024 * 1024
const { values } = parseArgs({ options: { 'size-mib': { type: 'string', default: '1024' } } })
const sizeMiB = Number(values['size-mib'])
const here = dirname(fileURLToPath(import.meta.url))
const work = join(here, '.tmp', 'ingest')
await rm(work, { recursive: true, force: true })
await mkdir(work, { recursive: true })

// 1. the file: pseudo-random so nothing deduplicates
const filePath = join(work, 'lesson.bin')
{
  const fh = await open(filePath, 'w')
  const block = Buffer.allocUnsafe(16 * MiB)
  let seed = 0x9e3779b9
  for (let written = 0; written < sizeMiB * MiB; written += block.length) {
    for (let i = 0; i < block.length; i += 4) {
      seed ^= seed << 13
      seed ^= seed >>> 17
      seed ^= seed << 5
      block.writeInt32LE(seed | 0, i)
    }
    await fh.write(block, 0, Math.min(block.length, sizeMiB * MiB - written))
  }
  await fh.close()
}

/**
 * Each phase writes a GiB: flushing dirty pages between phases keeps one phase's
 * writeback from being charged to the next.
 */
const settle = (): void => {
  execFileSync('sync')
}
settle()

// 2. baseline in the same run: blake3-wasm on one thread, 1 MiB chunks. Measured again
// right before each stage run: this VM's speed drifts by 5–10% within a minute, and a
// ratio is only as good as its two halves taken under the same conditions.
const hashSingleThread = (): number => {
  const buf = Buffer.alloc(MiB, 7)
  for (let i = 0; i < 32; i++) createHash().update(buf).digest() // warm up
  const t0 = performance.now()
  const n = 512
  for (let i = 0; i < n; i++) createHash().update(buf).digest()
  return n / ((performance.now() - t0) / 1000)
}
const hashMiBs = hashSingleThread()

// 3a. the hash stage on the worker pool alone (what "hash chunks on worker threads" buys)
const poolMiBs = await (async () => {
  const { HashPool } = await import('../node/content/index.ts')
  const pool = new HashPool()
  pool.start()
  const bufs = Array.from({ length: pool.concurrency }, () =>
    new Uint8Array(new SharedArrayBuffer(MiB)).fill(5),
  )
  const n = 1024
  const inflight: Array<Promise<unknown>> = []
  const t = performance.now()
  for (let i = 0; i < n; i++) {
    inflight.push(pool.hash(bufs[i % bufs.length]))
    if (inflight.length >= pool.concurrency) await inflight.shift()
  }
  await Promise.all(inflight)
  const rate = n / ((performance.now() - t) / 1000)
  await pool.stop()
  return rate
})()

// 3b. the ingest stage alone: chunk → hash on the worker pool → store on disk → signed manifest.
// The origin's ingest is fed by the network, not by reading a file: each run first reads
// the file once so that the stage reads it from the page cache (this VM's DAMON evicts
// cold cache within seconds, and reading 1 GiB back from disk measured 2.1 CPU-s,
// against 0.1 from the cache).
const warmSource = async (): Promise<void> => {
  for await (const _ of createReadStream(filePath, { highWaterMark: 4 * MiB })) {
    // warming the page cache
  }
}
/**
 * One run of the stage; its output is deleted afterwards. The first run in a process
 * is reported on its own (its worker isolates, buffers and, without direct I/O, page
 * cache land in memory touched for the first time, which this VM's hypervisor makes
 * slow: `dd` of 1 GiB to tmpfs took 1.6–3.2 s of system time, against 0.4 s into pages
 * freed a moment before). Then three more runs, each right after a single-thread
 * baseline: the best of them is the stage's figure (other jobs on a shared machine only
 * ever slow a run down), compared with the baseline taken just before it; all three
 * pairs are in the JSON.
 */
const ingestStage = async (): Promise<{ mibs: number; cpuPerGiB: number }> => {
  const { generateKeyPair } = await import('@libp2p/crypto/keys')
  const { HashPool } = await import('../node/content/index.ts')
  const { FsChunkStore } = await import('../node/store/index.ts')
  const { Catalog } = await import('../origin/catalog.ts')
  const { ingestFile } = await import('../origin/ingest.ts')
  const pool = new HashPool()
  pool.start()
  const store = new FsChunkStore({ dir: join(work, 'stage', 'store'), hasher: pool, directIo: true })
  await store.start()
  const catalog = new Catalog(join(work, 'stage', 'catalog'))
  await catalog.open()
  const privateKey = await generateKeyPair('Ed25519')
  await warmSource()
  const t = performance.now()
  const cpu0 = process.cpuUsage()
  await ingestFile(
    { store, catalog, privateKey, hashPool: pool },
    filePath,
    { name: 'stage', type: 'video', mime: 'video/mp4' },
    // the origin's own window (origin/index.ts)
    {
      chunkSize: MiB,
      runChunks: FILE_INGEST_RUN_CHUNKS,
      window: pool.size * FILE_INGEST_CHUNKS_PER_WORKER,
    },
  )
  const seconds = (performance.now() - t) / 1000
  const cpu = process.cpuUsage(cpu0)
  await catalog.close()
  await store.stop()
  await pool.stop()
  await rm(join(work, 'stage'), { recursive: true, force: true })
  settle()
  return { mibs: sizeMiB / seconds, cpuPerGiB: ((cpu.user + cpu.system) / 1e6) * (1024 / sizeMiB) }
}
const coldStage = await ingestStage()
const warmStages: Array<{ mibs: number; cpuPerGiB: number; baseline: number }> = []
for (let run = 0; run < 3; run++) {
  const baseline = hashSingleThread()
  warmStages.push({ ...(await ingestStage()), baseline })
}
const stage = warmStages.reduce((best, r) => (r.mibs > best.mibs ? r : best))
const ingestMiBs = stage.mibs
const ingestCpuSecondsPerGiB = stage.cpuPerGiB

// 4. the origin in its own process
const token = 'bench-token'
// the origin process exactly as `dandelion origin` runs it (same Node flags, environment and CLI)
const originMain = join(here, '..', 'origin', 'main.ts')
const originArgs = ['origin', '--port', '0', '--data', join(work, 'data'), '--token', token, '--no-seed']
const child = spawn(process.execPath, [...SERVICE_NODE_FLAGS.origin, originMain, ...originArgs], {
  env: { ...process.env, ...SERVICE_ENV.origin },
  stdio: ['ignore', 'pipe', 'inherit'],
})
const [line] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string]
const url = /listening on (\S+)/.exec(line)![1]
const rss = sampleRss(child.pid!, 20)
/** CPU seconds (all threads) a process has used, from /proc. */
const cpuSeconds = (pid: number): number => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
  return (Number(fields[11]) + Number(fields[12])) / 100 // utime + stime, in clock ticks
}
const originCpu0 = cpuSeconds(child.pid!)

// 5. upload end to end: from the first byte sent to the published version
const t0 = performance.now()
const result = await uploadFile(filePath, {
  origin: url,
  token,
  name: 'bench-lesson',
  type: 'video',
  // the client's default: the whole file in one PATCH
})
const e2eSeconds = (performance.now() - t0) / 1000
const peakRss = rss.stop()
const originCpuPerGiB = (cpuSeconds(child.pid!) - originCpu0) * (1024 / sizeMiB)

child.kill('SIGTERM')
await once(child, 'exit')
await rm(work, { recursive: true, force: true })

const figures = {
  file_mib: sizeMiB,
  chunk_size_mib: 1,
  hash_workers: availableParallelism(),
  // the baseline taken right before the best stage run: the ratio below is against it
  hash_single_thread_mib_s: Math.round(stage.baseline),
  hash_single_thread_before_pool_mib_s: Math.round(hashMiBs),
  hash_pool_mib_s: Math.round(poolMiBs),
  hash_pool_vs_single_ratio: Number((poolMiBs / hashMiBs).toFixed(2)),
  ingest_mib_s: Math.round(ingestMiBs),
  ingest_vs_hash_ratio: Number((ingestMiBs / stage.baseline).toFixed(2)),
  ingest_runs_mib_s: warmStages.map((r) => Math.round(r.mibs)).join(' '),
  ingest_runs_baseline_mib_s: warmStages.map((r) => Math.round(r.baseline)).join(' '),
  ingest_first_run_mib_s: Math.round(coldStage.mibs),
  ingest_first_run_cpu_s_per_gib: Number(coldStage.cpuPerGiB.toFixed(2)),
  upload_e2e_mib_s: Math.round(sizeMiB / e2eSeconds),
  upload_e2e_s: Number(e2eSeconds.toFixed(2)),
  origin_peak_rss_mb: Math.round(peakRss),
  origin_cpu_s_per_gib: Number(originCpuPerGiB.toFixed(2)),
  ingest_cpu_s_per_gib: Number(ingestCpuSecondsPerGiB.toFixed(2)),
  load_average_1m: Number(loadavg()[0].toFixed(2)),
  version: result.version,
}
printTable(`ingest of a ${sizeMiB} MiB file through the origin (tus over loopback)`, [
  {
    measure: 'blake3-wasm, one thread (baseline before the pool run)',
    value: figures.hash_single_thread_before_pool_mib_s,
    unit: 'MiB/s',
    target: '',
  },
  { measure: 'hash stage on the worker pool', value: figures.hash_pool_mib_s, unit: 'MiB/s', target: '' },
  { measure: 'pool / single-thread hash', value: figures.hash_pool_vs_single_ratio, unit: '×', target: '' },
  {
    measure: 'ingest stage (chunk, hash, store, manifest), best of 3',
    value: figures.ingest_mib_s,
    unit: 'MiB/s',
    target: '',
  },
  {
    measure: 'blake3-wasm, one thread (baseline before that stage run)',
    value: figures.hash_single_thread_mib_s,
    unit: 'MiB/s',
    target: '',
  },
  { measure: 'ingest / single-thread hash', value: figures.ingest_vs_hash_ratio, unit: '×', target: '≥ 1.5' },
  {
    measure: 'ingest stage, first run in the process',
    value: figures.ingest_first_run_mib_s,
    unit: 'MiB/s',
    target: '',
  },
  {
    measure: 'ingest stage CPU, first run',
    value: figures.ingest_first_run_cpu_s_per_gib,
    unit: 's/GiB',
    target: '',
  },
  { measure: 'upload end to end', value: figures.upload_e2e_mib_s, unit: 'MiB/s', target: '≥ 200' },
  { measure: 'origin peak RSS', value: figures.origin_peak_rss_mb, unit: 'MB', target: '≤ 200' },
  { measure: 'origin CPU during the upload', value: figures.origin_cpu_s_per_gib, unit: 's/GiB', target: '' },
  { measure: 'ingest stage CPU', value: figures.ingest_cpu_s_per_gib, unit: 's/GiB', target: '' },
  {
    measure: 'machine load average (1 min) at the end',
    value: figures.load_average_1m,
    unit: '',
    target: '',
  },
])
console.log(`results: ${writeResults('ingest', figures)}`)
