/**
 * `npm start`: an origin, a few campus nodes and a device on loopback; uploads a sample
 * file to the origin and shows replication progress bars until every node has it, then a
 * summary of where the bytes came from.
 *
 * The demo starts the origin through a caller-supplied factory so that `node/` never
 * imports `origin/` (a lamp embeds `node/` and must not pull servers in): `bin/` passes
 * `createOrigin` and `attachSeeder`.
 */
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { PrivateKey, PublicKey } from '@libp2p/interface'
import cliProgress from 'cli-progress'
import { createNode, type DandelionNode } from '../index.ts'
import type { ChunkStore } from '../store/index.ts'

/** The parts of an origin the demo uses (what `origin/index.ts` provides). */
export interface DemoOrigin {
  url: string
  publicKey: PublicKey
  privateKey: PrivateKey
  store: ChunkStore
  ingestFile(
    path: string,
    meta: { name: string; type: 'video' },
  ): Promise<{ manifestCid: string; name: string; version: number }>
  close(): Promise<void>
}

/** Options of {@link runDemo}. */
export interface DemoOptions {
  /** Starts an origin in `dataDir` (bin passes `createOrigin`). */
  createOrigin: (init: {
    dataDir: string
    token: string
    port: number
    chunkSize: number
  }) => Promise<DemoOrigin>
  /** Starts the origin's seeder (bin passes `attachSeeder`). */
  attachSeeder: (
    origin: DemoOrigin,
    init: { dht: boolean; limits: { uploadBytesPerSecond: number } },
  ) => Promise<{ node: DandelionNode; stop(): Promise<void> }>
  /** Campus nodes. @default 3 */
  nodes?: number
  /** Devices. @default 1 */
  devices?: number
  /** Sample file size. @default 48 MiB */
  fileBytes?: number
  /** Origin upload cap, so the swarm has something to do. @default 8 MiB/s */
  originBytesPerSecond?: number
  /** Show progress bars (off in tests). @default true when stdout is a TTY */
  bars?: boolean
  stdout?: (line: string) => void
}

/** What the demo measured. */
export interface DemoResult {
  manifestCid: string
  fileBytes: number
  seconds: number
  originEgressBytes: number
  nodes: Array<{ peerId: string; role: string; bytesFromPeers: number; bytesFromOrigin: number }>
}

/** Runs the demo to completion and tears everything down. */
export async function runDemo(options: DemoOptions): Promise<DemoResult> {
  const out = options.stdout ?? ((l: string) => process.stdout.write(`${l}\n`))
  const fileBytes = options.fileBytes ?? 48 * 1024 * 1024
  const dir = await mkdtemp(join(tmpdir(), 'dandelion-demo-'))
  const nodes: DandelionNode[] = []
  let origin: DemoOrigin | undefined
  let seeder: { node: DandelionNode; stop(): Promise<void> } | undefined
  try {
    origin = await options.createOrigin({
      dataDir: join(dir, 'origin'),
      token: 'demo',
      port: 0,
      chunkSize: 256 * 1024,
    })
    seeder = await options.attachSeeder(origin, {
      dht: true,
      limits: { uploadBytesPerSecond: options.originBytesPerSecond ?? 8 * 1024 * 1024 },
    })
    out(`origin ${origin.url}, seeder ${seeder.node.peerId.toString()}`)
    const sample = join(dir, 'sample-lesson.mp4')
    await writeFile(sample, randomBytes(fileBytes))
    const version = await origin.ingestFile(sample, { name: 'sample-lesson', type: 'video' })
    out(`uploaded ${version.name} v${version.version}: ${version.manifestCid}`)

    const bootstrap = seeder.node.multiaddrs.map(String)
    const common = {
      bootstrap,
      originUrl: origin.url,
      trustedOrigins: [origin.publicKey],
      campus: 'demo-campus',
      city: 'demo-city',
    }
    // each node also lists the ones started before it: a static peer list, on top of the DHT
    const campusCount = options.nodes ?? 3
    for (let i = 0; i < campusCount + (options.devices ?? 1); i++) {
      const peers = nodes.map((n) => n.multiaddrs[0].toString())
      const role = i < campusCount ? 'campus' : 'device'
      const n = await createNode({
        ...common,
        bootstrap: [...bootstrap, ...peers],
        role,
        playback: role === 'campus' ? { port: 0 } : false,
      })
      await n.start()
      nodes.push(n)
    }

    const showBars = options.bars ?? process.stdout.isTTY === true
    const bars = showBars
      ? new cliProgress.MultiBar(
          {
            format:
              '{name} |{bar}| {percentage}% {value}/{total} chunks  peers {peers} MiB  origin {origin} MiB',
            hideCursor: true,
          },
          cliProgress.Presets.shades_classic,
        )
      : undefined
    const t0 = performance.now()
    await Promise.all(
      nodes.map(async (n, i) => {
        const name = `${i < (options.nodes ?? 3) ? 'campus' : 'device'}-${i}`.padEnd(9)
        const bar = bars?.create(1, 0, { name, peers: '0.0', origin: '0.0' })
        await n.fetch(version.manifestCid, {
          onProgress: (p) => {
            bar?.setTotal(p.chunksTotal)
            bar?.update(p.chunksDone, {
              peers: (p.bytesFromPeers / 1048576).toFixed(1),
              origin: (p.bytesFromOrigin / 1048576).toFixed(1),
            })
          },
        })
      }),
    )
    bars?.stop()
    const seconds = (performance.now() - t0) / 1000
    const result: DemoResult = {
      manifestCid: version.manifestCid,
      fileBytes,
      seconds,
      originEgressBytes:
        seeder.node.status().totals.bytesUploaded +
        nodes.reduce((s, n) => s + n.status().totals.bytesFromOrigin, 0),
      nodes: nodes.map((n) => {
        const s = n.status()
        return {
          peerId: s.peerId,
          role: s.role,
          bytesFromPeers: s.totals.bytesFromPeers,
          bytesFromOrigin: s.totals.bytesFromOrigin,
        }
      }),
    }
    out(
      `every node has it after ${seconds.toFixed(1)} s; the origin sent ${(result.originEgressBytes / fileBytes).toFixed(2)} copies for ${nodes.length} nodes; play it at ${nodes[0].playbackUrl}/content/${version.manifestCid}`,
    )
    return result
  } finally {
    for (const n of nodes) await n.stop().catch(() => {})
    await seeder?.stop().catch(() => {})
    await origin?.close().catch(() => {})
    await rm(dir, { recursive: true, force: true })
  }
}
