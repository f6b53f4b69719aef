/** Starts a real origin (from `origin/`) with its seeder for swarm tests. */
import { writeFile } from 'node:fs/promises'
import { createServer, type Server, type ServerResponse } from 'node:http'
import { join } from 'node:path'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { DandelionNode } from '../../../node/index.ts'
import { createOrigin, type Origin, type PublishedVersion } from '../../../origin/index.ts'
import { attachSeeder, type Seeder, type SeederInit } from '../../../origin/seeder.ts'
import { type Harness, randomContent, TEST_CHUNK_SIZE, until } from './harness.ts'

/** An origin, its seeder, and a helper to publish bytes. */
export interface TestOrigin {
  origin: Origin
  seeder: Seeder
  publish(bytes: Uint8Array, name?: string): Promise<PublishedVersion>
  close(): Promise<void>
}

/** Starts an origin on loopback with a seeder node. */
export async function startOrigin(h: Harness, init: SeederInit = {}): Promise<TestOrigin> {
  const dir = await h.tempDir()
  const origin = await createOrigin({
    dataDir: dir,
    token: 'test',
    port: 0,
    chunkSize: TEST_CHUNK_SIZE,
    hashWorkers: 1,
  })
  const seeder = await attachSeeder(origin, { dht: false, ...init })
  let n = 0
  let closed = false
  return {
    origin,
    seeder,
    async publish(bytes, name = 'lesson') {
      const path = join(dir, `upload-${n++}.bin`)
      await writeFile(path, bytes)
      return await origin.ingestFile(path, { name, type: 'video', mime: 'video/mp4' })
    },
    async close() {
      if (closed) return
      closed = true
      await seeder.stop()
      await origin.close()
    },
  }
}

/**
 * A real origin (no seeder) with one 600 KiB `lesson` ingested: its manifest CID and the
 * origin's key as its banner prints it. Closing the origin is the caller's.
 */
export async function originWithLesson(
  h: Harness,
  token: string,
): Promise<{ origin: Origin; cid: string; signer: string }> {
  const origin = await createOrigin({
    dataDir: await h.tempDir(),
    token,
    port: 0,
    chunkSize: TEST_CHUNK_SIZE,
    hashWorkers: 1,
    minFreeDiskBytes: 0,
  })
  try {
    const file = join(await h.tempDir(), 'lesson.mp4')
    await writeFile(file, randomContent(600 * 1024))
    const published = await origin.ingestFile(file, { name: 'lesson', type: 'video', mime: 'video/mp4' })
    return { origin, cid: published.manifestCid, signer: peerIdFromPrivateKey(origin.privateKey).toString() }
  } catch (err) {
    await origin.close()
    throw err
  }
}

/** The origin routes a front watches. */
type FrontRoute = 'chunks' | 'manifests'

/** A proxy in front of a real origin whose chunk and manifest routes fail on demand. */
export interface OriginFront {
  url: string
  server: Server
  /**
   * Per route: pass requests on, answer 503, flip the first byte of what the origin sends,
   * or hold the request unanswered (in {@link held}) until its client gives up or the test
   * ends it.
   */
  modes: Record<FrontRoute, 'healthy' | 'down' | 'corrupt' | 'hang'>
  /** Requests seen per route. */
  asks: Record<FrontRoute, number>
  /** Requests held by the `hang` mode; `closed` settles when their connection closes. */
  held: Array<{ res: ServerResponse; closed: Promise<void> }>
  /** Closes the front, held requests included. */
  close(): void
}

/** Starts a front for `originUrl` on 127.0.0.1, every route healthy. */
export async function originFront(originUrl: string): Promise<OriginFront> {
  const front: OriginFront = {
    url: '',
    server: createServer(),
    modes: { chunks: 'healthy', manifests: 'healthy' },
    asks: { chunks: 0, manifests: 0 },
    held: [],
    close() {
      for (const { res } of front.held.splice(0)) res.destroy()
      front.server.closeAllConnections()
      front.server.close()
    },
  }
  front.server.on('request', (req, res) => {
    const route = (['chunks', 'manifests'] as const).find((r) => req.url?.startsWith(`/${r}/`) === true)
    if (route !== undefined) front.asks[route]++
    const mode = route === undefined ? 'healthy' : front.modes[route]
    if (mode === 'down') {
      res.writeHead(503).end()
      return
    }
    if (mode === 'hang') {
      front.held.push({ res, closed: new Promise<void>((resolve) => res.once('close', resolve)) })
      return
    }
    fetch(originUrl + req.url)
      .then(async (r) => {
        const body = Buffer.from(await r.arrayBuffer())
        if (mode === 'corrupt' && body.length > 0) body[0] ^= 0xff
        res.writeHead(r.status, { 'content-length': body.length }).end(body)
      })
      .catch(() => res.writeHead(502).end())
  })
  await new Promise<void>((resolve) => front.server.listen(0, '127.0.0.1', resolve))
  front.url = `http://127.0.0.1:${(front.server.address() as { port: number }).port}`
  return front
}

/**
 * A node with nothing more to ask its origin: while it fetched a lesson of `bytes` bytes,
 * the origin (behind a front whose chunk route is in `mode`) failed `failures` times or
 * more, then a peer that holds the lesson delivered all of it. The origin's seeder is
 * stopped, so only that peer and the origin have the lesson.
 */
export async function servedByPeerWhileOriginFails(
  h: Harness,
  o: TestOrigin,
  init: {
    bytes: number
    mode: 'down' | 'corrupt'
    failures: number
    backoff: { initialMs: number; maxMs: number }
  },
): Promise<{ node: DandelionNode; front: OriginFront }> {
  const version = await o.publish(randomContent(init.bytes))
  await o.seeder.stop()
  const trustedOrigins = [o.origin.publicKey]
  // the peer fetched it from the origin while the origin was well
  const peer = await h.spawn({ originUrl: o.origin.url, trustedOrigins, fallbackIdleMs: 100 })
  await peer.fetch(version.manifestCid)
  const front = await originFront(o.origin.url)
  front.modes.chunks = init.mode
  const node = await h.spawn({
    originUrl: front.url,
    trustedOrigins,
    fallbackIdleMs: 100,
    originBackoff: init.backoff,
  })
  const done = node.fetch(version.manifestCid)
  await until(() => (node.status().origin?.consecutiveFailures ?? 0) >= init.failures)
  await h.connect(node, peer)
  await done
  return { node, front }
}
