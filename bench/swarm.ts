/**
 * `npm run bench -- swarm [--nodes 20] [--mib 64] [--chunk-kib 256] [--origin-up 3]
 *   [--node-up 4] [--node-down 12] [--procs 2] [--http 1]`   (rates in MiB/s)
 *
 * The origin (real `createOrigin` + its super-seeding seeder) in this process and N campus
 * nodes spread over `--procs` child processes (a few nodes per process: 20 processes on
 * 2 cores would spend the CPU on 20 runtimes, one process caps the swarm at one core).
 * Every link is capped by the node's own token buckets; nodes find each other through a
 * static peer list (full mesh) and verify every chunk. Then, in the same run, the HTTP
 * baseline: every node downloads from a plain HTTP origin whose uplink has the same cap,
 * through the nodes' own web-seed path with no peers.
 */
import { type ChildProcess, fork } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { availableParallelism, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { publicKeyToProtobuf } from '@libp2p/crypto/keys'
import type { SwarmStats } from '../node/index.ts'
import { createOrigin } from '../origin/index.ts'
import { attachSeeder } from '../origin/seeder.ts'
import { printTable, writeResults } from './lib/report.ts'
import { cpuSeconds, MiB, numberArgs, procCpuSeconds } from './swarm/common.ts'
import { startHttpOrigin } from './swarm/http-origin.ts'

const a = numberArgs({
  nodes: 20,
  mib: 64,
  'chunk-kib': 256,
  'origin-up': 3,
  'node-up': 4,
  'node-down': 12,
  procs: 2,
  http: 1,
})
const N = a.nodes
const F = a.mib * MiB
const us = a['origin-up'] * MiB
const ui = a['node-up'] * MiB
const di = a['node-down'] * MiB
const cores = availableParallelism()
const boundS = Math.max(F / us, F / di, (N * F) / (us + N * ui))
const workerScript = fileURLToPath(new URL('./swarm/node-worker.ts', import.meta.url))
const out = (s: string): boolean => process.stdout.write(`${s}\n`)

/** A child process of nodes with a small request/response helper over IPC. */
class Worker {
  readonly child: ChildProcess
  private readonly waiting = new Map<string, (m: Record<string, unknown>) => void>()
  onNodeDone?: () => void

  constructor() {
    this.child = fork(workerScript, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    this.child.on('message', (m: Record<string, unknown>) => {
      if (m.type === 'node-done') return this.onNodeDone?.()
      if (m.type === 'error') throw new Error(String(m.message))
      this.waiting.get(String(m.type))?.(m)
    })
  }

  request(msg: object, reply: string): Promise<Record<string, unknown>> {
    return new Promise((resolve) => {
      this.waiting.set(reply, resolve)
      this.child.send(msg)
    })
  }

  async stop(): Promise<void> {
    const exited = new Promise((r) => this.child.once('exit', r))
    this.child.send({ type: 'stop' })
    await exited
  }
}

/** Starts `N` nodes over the workers, optionally meshed; returns the workers. */
async function startNodes(start: object, mesh: boolean, seederAddr: string): Promise<Worker[]> {
  const workers = Array.from({ length: a.procs }, () => new Worker())
  const addrs: string[] = []
  for (const [w, worker] of workers.entries()) {
    const count = Math.floor(N / a.procs) + (w < N % a.procs ? 1 : 0)
    const reply = await worker.request({ ...start, type: 'start', count }, 'started')
    addrs.push(...(reply.addrs as string[]))
  }
  if (mesh)
    await Promise.all(
      workers.map(
        async (w) =>
          await w.request({ type: 'connect', addrs: [...addrs, `${seederAddr}#seeder`] }, 'connected'),
      ),
    )
  return workers
}

/** Runs a fetch on every node; resolves with the time of the last, CPU use and totals. */
async function run(
  workers: Worker[],
  cid: string,
): Promise<{ times: number[]; cpu: number; totals: SwarmStats[] }> {
  const times: number[] = []
  const cpu0 = process.cpuUsage()
  const child0 = await Promise.all(workers.map(async (w) => await procCpuSeconds(w.child.pid!)))
  const t0 = performance.now()
  for (const w of workers) w.onNodeDone = () => times.push((performance.now() - t0) / 1000)
  const replies = await Promise.all(workers.map(async (w) => await w.request({ type: 'fetch', cid }, 'done')))
  const elapsed = (performance.now() - t0) / 1000
  const child1 = await Promise.all(workers.map(async (w) => await procCpuSeconds(w.child.pid!)))
  const cpu = cpuSeconds(cpu0) + child1.reduce((s, c, i) => s + c - child0[i], 0)
  return { times, cpu: cpu / elapsed / cores, totals: replies.flatMap((r) => r.totals as SwarmStats[]) }
}

const dir = await mkdtemp(join(tmpdir(), 'dandelion-swarm-bench-'))
try {
  const origin = await createOrigin({
    dataDir: join(dir, 'origin'),
    token: 't',
    port: 0,
    chunkSize: a['chunk-kib'] * 1024,
    hashWorkers: 1,
  })
  const file = join(dir, 'lesson.bin')
  await writeFile(file, randomBytes(F))
  const version = await origin.ingestFile(file, { name: 'bench-lesson', type: 'file' })
  const httpOrigin = await startHttpOrigin(origin.store, us)
  const seeder = await attachSeeder(origin, { dht: false, limits: { uploadBytesPerSecond: us } })
  const limits = { uploadBytesPerSecond: ui, downloadBytesPerSecond: di, originBytesPerSecond: us }
  const start = {
    limits,
    originUrl: httpOrigin.url,
    originKey: Buffer.from(publicKeyToProtobuf(origin.publicKey)).toString('base64'),
  }
  const seederAddr = seeder.node.multiaddrs[0].toString()

  // ---- swarm run
  out(
    `swarm: origin (this process) + ${N} nodes in ${a.procs} processes, ${a.mib} MiB, caps: origin up ${a['origin-up']}, node up ${a['node-up']} / down ${a['node-down']} MiB/s`,
  )
  const workers = await startNodes(start, true, seederAddr)
  let originDoneS = Number.NaN
  const t0 = performance.now()
  const watch = setInterval(() => {
    if (Number.isNaN(originDoneS) && seeder.node.status().totals.bytesUploaded >= F)
      originDoneS = (performance.now() - t0) / 1000
  }, 100)
  const swarm = await run(workers, version.manifestCid)
  clearInterval(watch)
  const completionS = Math.max(...swarm.times)
  const fromOriginHttp = swarm.totals.reduce((s, t) => s + t.bytesFromOrigin, 0)
  const originEgress = seeder.node.status().totals.bytesUploaded + fromOriginHttp
  const duplicates = swarm.totals.reduce((s, t) => s + t.duplicateChunks, 0)
  for (const w of workers) await w.stop()
  await seeder.stop()

  // ---- HTTP baseline: every node from the origin over HTTP, same caps, no peers
  let httpS = Number.NaN
  let httpEgress = Number.NaN
  if (a.http === 1) {
    out(
      `http baseline: ${N} nodes from the capped HTTP origin, no peers (about ${((N * F) / us).toFixed(0)} s expected)`,
    )
    const egress0 = httpOrigin.egress()
    const base = await startNodes({ ...start, fallbackIdleMs: 0 }, false, seederAddr)
    const r = await run(base, version.manifestCid)
    httpS = Math.max(...r.times)
    httpEgress = (httpOrigin.egress() - egress0) / F
    for (const w of base) await w.stop()
  }
  await httpOrigin.close()
  await origin.close()

  const figures = {
    nodes: N,
    file_mib: a.mib,
    chunk_kib: a['chunk-kib'],
    origin_up_mib_s: a['origin-up'],
    node_up_mib_s: a['node-up'],
    node_down_mib_s: a['node-down'],
    completion_s: completionS,
    first_completion_s: Math.min(...swarm.times),
    origin_done_s: originDoneS,
    bound_s: boundS,
    time_vs_bound: completionS / boundS,
    origin_egress_ratio: originEgress / F,
    origin_http_fallback_mib: fromOriginHttp / MiB,
    duplicate_chunks: duplicates,
    http_baseline_s: httpS,
    http_baseline_egress_ratio: httpEgress,
    speedup_vs_http: httpS / completionS,
    cpu_util: swarm.cpu,
    cpu_cores: cores,
    procs: a.procs,
    process_model: `origin + seeder in the parent; ${N} nodes over ${a.procs} child processes; memory stores; static full-mesh peer list`,
  }
  printTable('swarm distribution', [
    {
      nodes: N,
      file_mib: a.mib,
      completion_s: completionS,
      bound_s: boundS,
      time_vs_bound: completionS / boundS,
      origin_egress_ratio: originEgress / F,
      http_baseline_s: httpS,
      speedup: httpS / completionS,
      cpu_util: swarm.cpu,
    },
  ])
  out(`wrote ${writeResults('swarm', figures)}`)
} finally {
  await rm(dir, { recursive: true, force: true })
}
