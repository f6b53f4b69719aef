/** Helpers for origin tests: temp dirs, generated files, a running origin. */
import { createHash, randomBytes } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { decodeManifest } from '../../node/content/index.ts'
import { createOrigin, type Origin, type OriginInit } from '../../origin/index.ts'

export const MiB = 1024 * 1024
export const TOKEN = 'test-upload-token'

/** Tracks temp dirs and origins for cleanup. */
export class Fixture {
  private readonly dirs: string[] = []
  private readonly origins: Origin[] = []

  async dir(): Promise<string> {
    const d = await mkdtemp(join(tmpdir(), 'dandelion-origin-'))
    this.dirs.push(d)
    return d
  }

  async origin(init: Partial<OriginInit> = {}): Promise<Origin> {
    const origin = await createOrigin({
      dataDir: init.dataDir ?? (await this.dir()),
      token: TOKEN,
      port: 0,
      chunkSize: 256 * 1024,
      minFreeDiskBytes: 0,
      hashWorkers: 2,
      ...init,
    })
    this.origins.push(origin)
    return origin
  }

  /** Writes `size` random bytes to a new file; returns its path and sha256. */
  async file(size: number): Promise<{ path: string; sha256: string; bytes: Buffer }> {
    const bytes = randomBytes(size)
    const path = join(await this.dir(), 'lesson.mp4')
    await writeFile(path, bytes)
    return { path, sha256: createHash('sha256').update(bytes).digest('hex'), bytes }
  }

  async cleanup(): Promise<void> {
    await Promise.allSettled(this.origins.splice(0).map((o) => o.close()))
    await Promise.allSettled(this.dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })))
  }
}

/** Fetches a manifest and every chunk it lists over HTTP and reassembles the file. */
export async function downloadByChunks(url: string, manifestCid: string): Promise<Buffer> {
  const res = await fetch(`${url}/manifests/${manifestCid}`)
  if (res.status !== 200) throw new Error(`manifest: HTTP ${res.status}`)
  const manifest = decodeManifest(new Uint8Array(await res.arrayBuffer()))
  const parts: Buffer[] = []
  for (const cid of manifest.chunks) {
    const r = await fetch(`${url}/chunks/${cid.toString()}`)
    if (r.status !== 200) throw new Error(`chunk ${cid.toString()}: HTTP ${r.status}`)
    parts.push(Buffer.from(await r.arrayBuffer()))
  }
  return Buffer.concat(parts)
}

/** A raw tus request with the bearer token. */
export async function tusRequest(
  url: string,
  method: string,
  headers: Record<string, string> = {},
  body?: Uint8Array,
  token: string | null = TOKEN,
): Promise<Response> {
  return await fetch(url, {
    method,
    headers: {
      'Tus-Resumable': '1.0.0',
      ...(token !== null ? { Authorization: `Bearer ${token}` } : {}),
      ...headers,
    },
    body,
  })
}

/** Encodes tus Upload-Metadata. */
export function tusMetadata(meta: Record<string, string>): string {
  return Object.entries(meta)
    .map(([k, v]) => `${k} ${Buffer.from(v).toString('base64')}`)
    .join(',')
}

/** GETs JSON; tests assert on its shape. */
// biome-ignore lint/suspicious/noExplicitAny: test assertions inspect arbitrary JSON
export async function getJson(url: string): Promise<any> {
  return await (await fetch(url)).json()
}

/**
 * Uploads `body` whole in one tus creation-with-upload POST, with `bearer`: the upload token
 * or an upload grant. The response reports the version published (`Dandelion-Version`).
 */
export async function uploadWhole(
  url: string,
  bearer: string,
  meta: Record<string, string>,
  body: Uint8Array,
): Promise<Response> {
  return await tusRequest(
    `${url}/uploads`,
    'POST',
    {
      'Content-Type': 'application/offset+octet-stream',
      'Upload-Length': String(body.byteLength),
      'Upload-Metadata': tusMetadata(meta),
    },
    body,
    bearer,
  )
}
