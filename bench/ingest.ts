/**
 * `npm run bench -- ingest [--size-mib 1024]`: a generated file through the full
 * origin path (tus upload over loopback → chunk → hash → store → signed manifest).
 *
 * The origin chunks and hashes PATCH bodies as they arrive, so its ingest overlaps the
 * upload. The ingest stage alone is therefore measured on its own, in the same run: the
 * same chunk → hash (worker pool) → store → manifest pipeline over the same file read
 * from the page cache (`ingestFile`), in a process with the origin's Node flags and
 * environment. Also reported: end-to-end upload MiB/s (first byte sent to version
 * published), the origin process's peak RSS, and single-thread blake3-wasm speed as the
 * baseline.
 */
import { execFileSync, spawn } from 'node:child_process'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { mkdir, open, rm } from 'node:fs/promises'
import { availableParallelism, loadavg } from 'node:os'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { SERVICE_ENV, SERVICE_NODE_FLAGS } from '../node/cli-main.ts'
import { uploadFile } from '../origin/client.ts'
import type { StageFigures } from './lib/ingest-stage.ts'
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

// 2–3. the single-thread baseline, the hash pool alone and the ingest stage, measured in a
// process with the origin's Node flags and environment (`bench/lib/ingest-stage.ts`):
// the stage is the origin's ingest, and the baseline shares its conditions.
const measured = JSON.parse(
  execFileSync(
    process.execPath,
    [
      ...SERVICE_NODE_FLAGS.origin,
      join(here, 'lib', 'ingest-stage.ts'),
      filePath,
      String(sizeMiB),
      join(work, 'stage'),
    ],
    { env: { ...process.env, ...SERVICE_ENV.origin }, stdio: ['ignore', 'pipe', 'inherit'] },
  )
    .toString()
    .trim()
    .split('\n')
    .at(-1) as string,
) as StageFigures
const { hashMiBs, poolMiBs, coldStage, warmStages } = measured
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
