/**
 * A lamp uploading with a grant whose upload exists already: it learns where from the origin's
 * 409 and starts over (a lost answer to its creation), and never sends its grant elsewhere.
 */
import { once } from 'node:events'
import { createServer, request as httpRequest, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { afterEach, describe, expect, it } from 'vitest'
import { UploadGrantIssuer } from '../../../node/upload-grant.ts'
import { uploadWithGrant } from '../../../rtc/photo/upload.ts'
import { HAS_ORIGIN, startOrigin, still, type TestOrigin } from '../e2e/classroom.ts'

const servers: Server[] = []
let origin: TestOrigin | undefined
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections()
    await new Promise((resolve) => s.close(resolve))
  }
  await origin?.close()
  origin = undefined
})

/** Serves `handler` on loopback; resolves with its base URL. */
async function serve(handler: Parameters<typeof createServer>[1]): Promise<string> {
  const server = createServer(handler)
  servers.push(server)
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

/**
 * A proxy to `target` that passes the first creation (POST) on but drops the connection
 * instead of answering it: the upload exists at the origin, the lamp does not know where.
 */
async function losingFirstCreation(target: string): Promise<{ url: string; posts: () => number }> {
  const to = new URL(target)
  let posts = 0
  const url = await serve((req, res) => {
    const upstream = httpRequest(
      { host: to.hostname, port: to.port, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        if (req.method === 'POST' && posts++ === 0) {
          answer.resume()
          answer.on('end', () => req.socket.destroy())
          return
        }
        res.writeHead(answer.statusCode ?? 502, answer.headers)
        answer.pipe(res)
      },
    )
    upstream.on('error', () => res.destroy())
    req.pipe(upstream)
  })
  return { url, posts: () => posts }
}

describe('photo upload with a used grant', () => {
  it.skipIf(!HAS_ORIGIN)('starts over when the answer to its creation was lost', async () => {
    const rtc = new UploadGrantIssuer(await generateKeyPair('Ed25519'))
    origin = await startOrigin([rtc.id])
    const proxy = await losingFirstCreation(origin.url)
    const name = 'homework-lamp-1'
    const grant = rtc.issue({ name, type: 'image', max: 100_000, ttlMs: 60_000 })
    const photo = still(50_000, 5)
    const url = await uploadWithGrant({ origin: proxy.url, token: grant, chunkSize: 20_000 }, photo, {
      name,
      filename: `${name}.jpg`,
    })
    // created, lost, refused as used, then created again
    expect(proxy.posts()).toBe(3)
    expect(url).toBe(`${proxy.url}/resources/${name}/versions/1/content`)
    const served = await fetch(`${origin.url}/resources/${name}/versions/1/content`)
    expect(Buffer.from(await served.arrayBuffer()).equals(photo)).toBe(true)
  })

  it('never sends its grant to an upload the origin names on another host', async () => {
    let elsewhere = 0
    const other = await serve((_req, res) => {
      elsewhere++
      res.writeHead(200, { 'Upload-Offset': '0', 'Upload-Length': '10', 'Tus-Resumable': '1.0.0' }).end()
    })
    const fake = await serve((req, res) => {
      req.resume()
      res
        .writeHead(409, { 'Content-Type': 'application/json', Location: `${other}/uploads/x` })
        .end(JSON.stringify({ error: { code: 'ERR_GRANT_USED', message: 'used' } }))
    })
    const err = await uploadWithGrant(
      { origin: fake, token: 'dgrant1.a.b', retryDelays: [] },
      Buffer.alloc(10),
      { name: 'n', filename: 'n.jpg' },
    ).catch((e: unknown) => e)
    expect(err).toMatchObject({ name: 'PhotoUploadError', message: expect.stringContaining('elsewhere') })
    expect(elsewhere).toBe(0)
  })
})
