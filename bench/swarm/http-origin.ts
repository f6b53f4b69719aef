/**
 * A plain HTTP origin for the baseline: serves `GET /chunks/:cid` (and manifests) from a
 * chunk store, with the whole server's upload capped by one token bucket — the same cap
 * the origin's seeder gets in the swarm run.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { parseCid } from '../../node/content/index.ts'
import { TokenBucket } from '../../node/limiter/index.ts'
import type { ChunkStore } from '../../node/store/index.ts'

const SLICE_BYTES = 64 * 1024

/** Starts the capped server; `egress` counts body bytes sent. */
export async function startHttpOrigin(
  store: ChunkStore,
  bytesPerSecond: number,
): Promise<{ url: string; egress: () => number; close(): Promise<void> }> {
  const bucket = new TokenBucket({ bytesPerSecond })
  let egress = 0
  const server: Server = createServer((req, res) => {
    const m = /^\/(chunks|manifests)\/([a-z0-9]+)$/.exec(req.url ?? '')
    if (m === null) {
      res.writeHead(404).end()
      return
    }
    void (async () => {
      let bytes: Uint8Array
      try {
        bytes = await store.get(parseCid(m[2]))
      } catch {
        res.writeHead(404).end()
        return
      }
      res.writeHead(200, { 'content-length': bytes.byteLength, 'content-type': 'application/octet-stream' })
      // pace the body in slices so concurrent downloads share the capped uplink
      for (let off = 0; off < bytes.byteLength; off += SLICE_BYTES) {
        const slice = bytes.subarray(off, off + SLICE_BYTES)
        await bucket.take(slice.byteLength)
        egress += slice.byteLength
        if (!res.write(slice)) await new Promise((r) => res.once('drain', r))
      }
      res.end()
    })().catch(() => res.destroy())
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    egress: () => egress,
    close: () =>
      new Promise((r) => {
        server.closeAllConnections()
        server.close(() => r())
      }),
  }
}
