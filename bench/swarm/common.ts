/** Shared helpers of the swarm, transfer and playback benchmarks. */
import { randomBytes } from 'node:crypto'
import type { PrivateKey } from '@libp2p/interface'
import { chunkStream, createManifest, type Manifest } from '../../node/content/index.ts'
import type { ChunkStore } from '../../node/store/index.ts'

export const MiB = 1024 * 1024

/** Generates `size` random bytes and stores them as chunks plus a signed manifest (manifest bytes stored too). */
export async function generateContent(
  store: ChunkStore,
  size: number,
  chunkSize: number,
  key: PrivateKey,
  name = 'bench',
): Promise<Manifest> {
  async function* source(): AsyncGenerator<Uint8Array> {
    for (let done = 0; done < size; done += 16 * MiB)
      yield new Uint8Array(randomBytes(Math.min(16 * MiB, size - done)))
  }
  const chunks = []
  for await (const chunk of chunkStream(source(), chunkSize)) chunks.push(await store.add(chunk))
  const manifest = await createManifest(
    { name, type: 'file', mime: 'application/octet-stream', size, chunkSize, chunks, createdAt: Date.now() },
    key,
  )
  await store.put(manifest.cid, manifest.bytes)
  return manifest
}

/** CPU seconds (user + system) of this process since `since`. */
export function cpuSeconds(since: NodeJS.CpuUsage): number {
  const u = process.cpuUsage(since)
  return (u.user + u.system) / 1e6
}

/** CPU seconds of another process from /proc (utime + stime). */
export async function procCpuSeconds(pid: number): Promise<number> {
  const { readFile } = await import('node:fs/promises')
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) / 100
  } catch {
    return 0
  }
}

/** Parses `--key value` arguments into numbers. */
export function numberArgs(defaults: Record<string, number>): Record<string, number> {
  const out = { ...defaults }
  const argv = process.argv.slice(2)
  for (let i = 0; i < argv.length; i++) {
    const m = /^--([\w-]+)$/.exec(argv[i])
    if (m !== null && m[1] in out && argv[i + 1] !== undefined) out[m[1]] = Number(argv[++i])
  }
  return out
}
