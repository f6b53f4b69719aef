/**
 * `npm run bench -- transfer [--mib 256] [--chunk-kib 1024] [--peers 10] [--rss-mib 64] [--runs 5] [--warmup-mib MIB]`
 *
 * 1. One node pulls a swarm of `--mib` MiB from one peer, uncapped, against a bare
 *    libp2p stream (same tcp + noise + yamux) moving the same bytes, in the same run and
 *    process: memory stores on both nodes (the ratio), then on-disk stores. The bare
 *    stream and the memory-store pull are measured as pairs, back to back, their order
 *    alternating from pair to pair, after one warm-up pair of `--warmup-mib` MiB (by
 *    default the pairs' own size: both the bare stream and the pull sped up over their
 *    first full-size runs after a 64 MiB warm-up, the pull from 116 to 201 MiB/s over the
 *    five pairs of session 17's first run, the bare stream from 208 to 307-342 in a
 *    throwaway loop, as the heap and the memory the stores keep grow); the
 *    ratio is the median of the pairs' ratios. Everything else runs after the pairs: the
 *    receivers that keep 256 MiB and the disk pulls leave garbage and dirty pages behind,
 *    and whatever ran right after them was slowed (in session 11 the pull measured right
 *    after two such receivers ran at 0.55-0.57 of the bare stream, 0.72-0.89 in pairs). The puller
 *    verifies every chunk before storing it as the daemon does by default
 *    (`CONFIG_DEFAULTS.hashWorkers`: on the event loop with the native BLAKE3). Also in
 *    the same run: the bare stream with the least a verifying receiver must add (copy
 *    into kept chunk buffers and hash each, or keep the pieces and hash them as they
 *    arrive), the floor any verified pull sits under on this machine
 *    (`bench/lib/bare-stream.ts`). Every stream and pull starts on a settled connection
 *    and is timed from opening its stream.
 * 2. The memory-store pull and the bare stream again, in a child process run with the
 *    node daemon's Node flags and environment (`SERVICE_NODE_FLAGS.node`, `SERVICE_ENV.node`):
 *    what a campus node runs with, where the figures in 1. are those of a process with
 *    Node's defaults (a device embedding the library). And once more in a child with
 *    Node's defaults and `DANDELION_BLAKE3=wasm`: verifying with blake3-wasm on one hash
 *    worker, the daemon's setting where the native BLAKE3 does not load.
 * 3. Peak RSS of the node daemon (`node/main.ts node`, the process `dandelion node`
 *    starts, with its Node flags, environment and defaults) seeding `--rss-mib` MiB it
 *    already holds to `--peers` peers, `--runs` times.
 */
import { execFileSync, spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { generateKeyPair, publicKeyToProtobuf } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import { SERVICE_ENV, SERVICE_NODE_FLAGS } from '../node/cli-main.ts'
import { blake3Implementation } from '../node/content/index.ts'
import { CONFIG_DEFAULTS } from '../node/daemon/config.ts'
import { createNode } from '../node/index.ts'
import { FsChunkStore, MemoryChunkStore } from '../node/store/index.ts'
import { bareStream, connectSettled } from './lib/bare-stream.ts'
import { printTable, sampleRss, writeResults } from './lib/report.ts'
import { cpuSeconds, generateContent, MiB, numberArgs } from './swarm/common.ts'

// DANDELION_BENCH_NODE_FLAGS replaces the daemon's Node flags (e.g. to compare settings)
const daemonFlags =
  process.env.DANDELION_BENCH_NODE_FLAGS === undefined
    ? SERVICE_NODE_FLAGS.node
    : process.env.DANDELION_BENCH_NODE_FLAGS.split(' ').filter((f) => f !== '')
const args = numberArgs({ mib: 256, 'chunk-kib': 1024, peers: 10, 'rss-mib': 64, runs: 5, 'warmup-mib': -1 })
if (args['warmup-mib'] < 0) args['warmup-mib'] = args.mib
const size = args.mib * MiB
const chunkSize = args['chunk-kib'] * 1024
const dirs: string[] = []
const tempDir = async (): Promise<string> => {
  const d = await mkdtemp(join(tmpdir(), 'dandelion-bench-'))
  dirs.push(d)
  return d
}

/**
 * One node pulls the swarm from one seeder. `memory`: both stores in memory, so the
 * figure is the protocol's (framing, scheduling, verification) against the bare stream,
 * which stores nothing either. `disk`: both on-disk stores, as a daemon runs.
 * The leecher verifies as the daemon does by default (`CONFIG_DEFAULTS.hashWorkers`), with
 * the BLAKE3 this process loaded.
 */
async function swarmPull(kind: 'memory' | 'disk', bytes = size): Promise<{ mibs: number; cpu: number }> {
  const key = await generateKeyPair('Ed25519')
  const seederDir = await tempDir()
  const store = kind === 'disk' ? new FsChunkStore({ dir: join(seederDir, 'store') }) : new MemoryChunkStore()
  await store.start()
  const manifest = await generateContent(store, bytes, chunkSize, key)
  const seeder = await createNode({ store, dht: false })
  await seeder.start()
  await seeder.seed(manifest)
  const leecher = await createNode({
    dataDir: kind === 'disk' ? await tempDir() : undefined,
    dht: false,
    hashWorkers: CONFIG_DEFAULTS.hashWorkers,
  })
  await leecher.start()
  await connectSettled(leecher.libp2p, seeder.libp2p)
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  await leecher.fetch(manifest.cid)
  const seconds = (performance.now() - t0) / 1000
  const cpu = cpuSeconds(cpu0) / seconds
  await leecher.stop()
  await seeder.stop()
  await store.stop()
  return { mibs: bytes / MiB / seconds, cpu }
}

async function seederRss(): Promise<number> {
  const key = await generateKeyPair('Ed25519')
  const dir = await tempDir()
  const store = new FsChunkStore({ dir: join(dir, 'store') })
  await store.start()
  const manifest = await generateContent(store, args['rss-mib'] * MiB, chunkSize, key)
  await store.stop()
  // the real daemon, exactly as `dandelion node` starts it: its process entry, Node flags
  // and environment, its defaults (playback server, verification per `CONFIG_DEFAULTS.hashWorkers`); no DHT, as the peers
  // dial it directly
  const child = spawn(
    process.execPath,
    [
      ...daemonFlags,
      fileURLToPath(new URL('../node/main.ts', import.meta.url)),
      'node',
      '--data',
      dir,
      '--listen',
      '/ip4/127.0.0.1/tcp/0',
      '--playback-port',
      '0',
      '--no-dht',
      // the daemon starts only with an origin to trust: the one that signed what it seeds
      '--trusted-origin',
      Buffer.from(publicKeyToProtobuf(key.publicKey)).toString('base64'),
    ],
    { env: { ...process.env, ...SERVICE_ENV.node }, stdio: ['ignore', 'pipe', 'inherit'] },
  )
  const addr = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the daemon exited (${code}) before it was ready`)))
    createInterface({ input: child.stdout! }).on('line', (l) => {
      const event = JSON.parse(l) as { event?: string; multiaddrs?: string[] }
      if (event.event === 'ready' && event.multiaddrs !== undefined) resolve(event.multiaddrs[0])
    })
  })
  const rss = sampleRss(child.pid!)
  const peers = []
  for (let i = 0; i < args.peers; i++) {
    const p = await createNode({ dht: false })
    await p.start()
    await p.libp2p.dial(multiaddr(addr))
    peers.push(p)
  }
  await Promise.all(peers.map(async (p) => await p.fetch(manifest.cid)))
  const peak = rss.stop()
  for (const p of peers) await p.stop()
  child.kill('SIGTERM')
  await new Promise((r) => child.once('exit', r))
  return peak
}

/** One pair: the bare stream and the memory-store pull, back to back. */
type Pair = {
  run: number
  first: 'bare' | 'swarm'
  bare_stream_mib_s: number
  swarm_mib_s: number
  ratio: number
  swarm_cpu_cores: number
}

/**
 * `args.runs` pairs of the bare stream and the memory-store pull, after a warm-up pair
 * (the first transfers of a process run slower while its code is compiled and its heap
 * grows). Which goes first alternates, so neither always runs in the state the other leaves.
 */
async function pairs(): Promise<Pair[]> {
  await bareStream(args['warmup-mib'] * MiB, chunkSize, 'count')
  await swarmPull('memory', args['warmup-mib'] * MiB)
  const out: Pair[] = []
  for (let run = 0; run < args.runs; run++) {
    const first = run % 2 === 0 ? 'bare' : 'swarm'
    const bareBefore = first === 'bare' ? await bareStream(size, chunkSize, 'count') : 0
    const swarm = await swarmPull('memory')
    const bare = first === 'bare' ? bareBefore : await bareStream(size, chunkSize, 'count')
    out.push({
      run,
      first,
      bare_stream_mib_s: bare,
      swarm_mib_s: swarm.mibs,
      ratio: swarm.mibs / bare,
      swarm_cpu_cores: swarm.cpu,
    })
  }
  return out
}

const medianOf = (xs: number[]): number => {
  const sorted = [...xs].sort((x, y) => x - y)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

/** Set in the children of part 2: run the pairs only, print them as JSON. */
const CHILD_ENV = 'DANDELION_BENCH_TRANSFER_CHILD'

if (process.env[CHILD_ENV] === '1') {
  const rows = await pairs()
  for (const d of dirs) await rm(d, { recursive: true, force: true })
  process.stdout.write(`${JSON.stringify(rows)}\n`)
  process.exit(0)
}

/** Part 2: this script again, as a child with these Node flags and environment. */
function inChild(flags: readonly string[], env: Record<string, string>): Pair[] {
  const out = execFileSync(
    process.execPath,
    [...flags, fileURLToPath(import.meta.url), ...process.argv.slice(2)],
    {
      env: { ...process.env, ...env, [CHILD_ENV]: '1' },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  )
  return JSON.parse(out.toString().trim().split('\n').at(-1) as string)
}

try {
  const pairRows = await pairs()
  printTable(
    `transfer: ${args.mib} MiB, ${chunkSize / 1024} KiB chunks, one peer, uncapped, one process, bare stream and pull in pairs; verifying with ${blake3Implementation} BLAKE3 on ${CONFIG_DEFAULTS.hashWorkers === 0 ? 'the event loop' : `${CONFIG_DEFAULTS.hashWorkers} hash worker(s)`}`,
    pairRows,
  )
  // after the pairs: what a verifying receiver adds at least, and the pull into on-disk stores
  const floorRows: Array<{ run: number; bare_copy_hash_mib_s: number; bare_hash_pieces_mib_s: number }> = []
  for (let run = 0; run < args.runs; run++) {
    floorRows.push({
      run,
      bare_copy_hash_mib_s: await bareStream(size, chunkSize, 'copy-hash'),
      bare_hash_pieces_mib_s: await bareStream(size, chunkSize, 'hash-pieces'),
    })
  }
  printTable('the bare stream with the least a verifying receiver adds (after the pairs)', floorRows)
  const diskRows: Array<{ run: number; swarm_disk_mib_s: number }> = []
  for (let run = 0; run < args.runs; run++)
    diskRows.push({ run, swarm_disk_mib_s: (await swarmPull('disk')).mibs })
  printTable('the pull into on-disk stores (after the pairs)', diskRows)
  const daemonRows = inChild(daemonFlags, SERVICE_ENV.node)
  printTable(
    `the same pull (memory stores) and bare stream, in a process with the daemon's Node flags and environment`,
    daemonRows,
  )
  const wasmRows = inChild([], { DANDELION_BLAKE3: 'wasm' })
  printTable(
    `the same pull (memory stores) and bare stream, verifying with blake3-wasm on one hash worker (the daemon's setting where the native BLAKE3 does not load), in a process with Node's defaults`,
    wasmRows,
  )
  const rssRuns: number[] = []
  for (let run = 0; run < args.runs; run++) rssRuns.push(await seederRss())
  printTable(
    `seeding daemon (own process, ${daemonFlags.join(' ')} ${Object.entries(SERVICE_ENV.node)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ')}) serving ${args['rss-mib']} MiB to ${args.peers} peers`,
    rssRuns.map((r, run) => ({ run, seeder_peak_rss_mb: r })),
  )
  // the worst run: a peak is what a memory budget has to hold
  const rss = Math.max(...rssRuns)
  const bare = medianOf(pairRows.map((r) => r.bare_stream_mib_s))
  const swarm = medianOf(pairRows.map((r) => r.swarm_mib_s))
  const copyHash = medianOf(floorRows.map((r) => r.bare_copy_hash_mib_s))
  const hashPieces = medianOf(floorRows.map((r) => r.bare_hash_pieces_mib_s))
  const floor = Math.max(copyHash, hashPieces)
  const file = writeResults('transfer', {
    file_mib: args.mib,
    chunk_kib: chunkSize / 1024,
    runs: args.runs,
    warmup_mib: args['warmup-mib'],
    swarm_mib_s: swarm,
    bare_stream_mib_s: bare,
    ratio: medianOf(pairRows.map((r) => r.ratio)),
    ratio_min: Math.min(...pairRows.map((r) => r.ratio)),
    ratio_best: Math.max(...pairRows.map((r) => r.ratio)),
    bare_copy_hash_mib_s: copyHash,
    bare_hash_pieces_mib_s: hashPieces,
    floor_ratio: floor / bare,
    ratio_vs_floor: swarm / floor,
    swarm_disk_mib_s: medianOf(diskRows.map((r) => r.swarm_disk_mib_s)),
    swarm_cpu_cores: medianOf(pairRows.map((r) => r.swarm_cpu_cores)),
    blake3: blake3Implementation,
    verify_hash_workers: CONFIG_DEFAULTS.hashWorkers,
    swarm_wasm_worker_mib_s: medianOf(wasmRows.map((r) => r.swarm_mib_s)),
    ratio_wasm_worker: medianOf(wasmRows.map((r) => r.ratio)),
    daemon_flags_swarm_mib_s: medianOf(daemonRows.map((r) => r.swarm_mib_s)),
    daemon_flags_bare_stream_mib_s: medianOf(daemonRows.map((r) => r.bare_stream_mib_s)),
    daemon_flags_ratio: medianOf(daemonRows.map((r) => r.ratio)),
    seeder_peak_rss_mb: rss,
    seeder_peak_rss_mb_median: medianOf(rssRuns),
    seeder_node_flags: daemonFlags.join(' '),
    seeder_env: Object.entries(SERVICE_ENV.node)
      .map(([k, v]) => `${k}=${v}`)
      .join(' '),
    seeder_peers: args.peers,
    seeder_file_mib: args['rss-mib'],
    process_model:
      "bare stream and swarm pulls: both ends in this process, each on a settled connection (identify done both ways) and timed from opening its stream, medians of runs; bare_stream and swarm (memory stores) measured in pairs, back to back, which goes first alternating, after a warm-up pair of warmup_mib; ratio: the median of the pairs' ratios (ratio_min, ratio_best: the worst and best pair); measured after all pairs: bare_copy_hash / bare_hash_pieces: the bare stream whose receiver copies into kept chunk buffers and hashes each / keeps the pieces and hashes them as they arrive, the least a verifying receiver adds; floor_ratio: the better of the two medians over the bare stream's; ratio_vs_floor: the swarm over that better one; swarm_mib_s: memory stores; swarm_disk_mib_s: on-disk stores; the puller verifies as the daemon does by default, see blake3 and verify_hash_workers; *_wasm_worker: verifying with blake3-wasm on one hash worker instead, in a child process with Node defaults and DANDELION_BLAKE3=wasm, against the bare stream of that child); daemon_flags_*: the same memory-store pull and bare stream in a child process with the daemon Node flags and environment; seeder RSS: the node daemon process `dandelion node` starts (node/main.ts, its Node flags, environment and defaults: playback server, verify_hash_workers), the largest peak of runs",
  })
  process.stdout.write(`wrote ${file}\n`)
} finally {
  for (const d of dirs) await rm(d, { recursive: true, force: true })
}
