/**
 * In-process harness for multi-node tests: real libp2p hosts on 127.0.0.1, real stores,
 * spawn / connect / teardown.
 */
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { chunkStream, createManifest, type Manifest } from '../../../node/content/index.ts'
import { createNode, type DandelionNode, type DandelionNodeInit } from '../../../node/index.ts'
import type { ChunkStore } from '../../../node/store/index.ts'

/** Test chunk size: small, so few-MiB files have many chunks. */
export const TEST_CHUNK_SIZE = 256 * 1024

/** Tracks nodes and temp dirs so one `teardown()` cleans everything. */
export class Harness {
  readonly nodes: DandelionNode[] = []
  private readonly dirs: string[] = []

  async tempDir(): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'dandelion-node-'))
    this.dirs.push(dir)
    return dir
  }

  /** Creates and starts a node (DHT off unless asked, so tests stay quick and deterministic). */
  async spawn(init: DandelionNodeInit = {}): Promise<DandelionNode> {
    const node = await createNode({ dht: false, ...init })
    await node.start()
    this.nodes.push(node)
    return node
  }

  /** Connects `a` to `b`. */
  async connect(a: DandelionNode, b: DandelionNode): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await a.libp2p.dial(b.multiaddrs[0])
        return
      } catch (err) {
        // a simultaneous dial (e.g. from the bootstrap list) can reset this one
        if (a.libp2p.getConnections(b.peerId).length > 0) return
        if (attempt >= 3) throw err
      }
    }
  }

  async teardown(): Promise<void> {
    await Promise.allSettled(this.nodes.splice(0).map((n) => n.stop()))
    await Promise.allSettled(this.dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })))
  }
}

/** Random content of `size` bytes. */
export function randomContent(size: number): Uint8Array {
  return new Uint8Array(randomBytes(size))
}

/** Chunks `bytes` into `store` and signs a manifest for them. */
export async function addContent(
  store: ChunkStore,
  bytes: Uint8Array,
  key: PrivateKey,
  init: { chunkSize?: number; name?: string } = {},
): Promise<Manifest> {
  const chunkSize = init.chunkSize ?? TEST_CHUNK_SIZE
  const chunks = []
  async function* source(): AsyncGenerator<Uint8Array> {
    yield bytes
  }
  for await (const chunk of chunkStream(source(), chunkSize)) chunks.push(await store.add(chunk.slice()))
  return await createManifest(
    {
      name: init.name ?? 'lesson',
      type: 'video',
      mime: 'video/mp4',
      size: bytes.byteLength,
      chunkSize,
      chunks,
      createdAt: Date.now(),
    },
    key,
  )
}

/** An ed25519 key for signing test manifests. */
export async function originKey(): Promise<PrivateKey> {
  return await generateKeyPair('Ed25519')
}

/** Reads a manifest's whole content out of a node's store. */
export async function readAll(node: DandelionNode, manifest: Manifest): Promise<Uint8Array> {
  const out = new Uint8Array(manifest.size)
  let offset = 0
  for (const c of manifest.chunks) {
    const b = await node.store.get(c)
    out.set(b, offset)
    offset += b.byteLength
  }
  return out
}

/** Polls `cond` every 20 ms until true; throws after `timeoutMs` (a bound, not a timing assertion). */
export async function until(cond: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('condition not reached in time')
    await new Promise((r) => setTimeout(r, 20))
  }
}
