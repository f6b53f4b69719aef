import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { afterEach, describe, expect, it } from 'vitest'
import { downloadByChunks, Fixture, getJson, MiB, tusMetadata, tusRequest } from './utils.ts'

const fx = new Fixture()
const children: ChildProcess[] = []
afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL')
  await fx.cleanup()
})

/** Starts an origin process; resolves with its URL and a promise of the first stderr line matching `waitFor`. */
async function startOrigin(
  dataDir: string,
  waitFor?: RegExp,
): Promise<{ url: string; child: ChildProcess; seen: Promise<void> }> {
  const child = spawn(
    process.execPath,
    [new URL('./fixtures/origin-process.ts', import.meta.url).pathname, dataDir],
    {
      env: { ...process.env, DEBUG: 'dandelion:origin*' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  )
  children.push(child)
  let seenResolve: () => void = () => {}
  const seen = new Promise<void>((resolve) => {
    seenResolve = resolve
  })
  createInterface({ input: child.stderr! }).on('line', (line) => {
    if (waitFor?.test(line)) seenResolve()
  })
  const [line] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string]
  return { url: (JSON.parse(line) as { url: string }).url, child, seen }
}

describe('origin crash during ingest', () => {
  it('finishes the ingest after a restart, and never shows a half-ingested version', async () => {
    const dataDir = await fx.dir()
    const file = await fx.file(192 * MiB)
    const first = await startOrigin(dataDir, /ingesting lesson-big/)

    const created = await tusRequest(`${first.url}/uploads`, 'POST', {
      'Upload-Length': String(file.bytes.length),
      'Upload-Metadata': tusMetadata({ name: 'lesson-big', type: 'video' }),
    })
    const location = created.headers.get('location')!
    const uploadId = location.split('/').pop()!
    const patch = tusRequest(
      location,
      'PATCH',
      { 'Upload-Offset': '0', 'Content-Type': 'application/offset+octet-stream' },
      file.bytes,
    ).catch(() => undefined)
    // kill the origin as soon as it starts cutting the finished upload into chunks
    await first.seen
    first.child.kill('SIGKILL')
    await once(first.child, 'exit')
    await patch
    // the crash left a finished upload that was never published
    expect(existsSync(join(dataDir, 'uploads', uploadId))).toBe(true)

    const second = await startOrigin(dataDir)
    // the restarted origin re-ran the ingest before serving: exactly one, complete version
    const versions = await getJson(`${second.url}/resources/lesson-big/versions`)
    expect(versions.versions).toHaveLength(1)
    const v = versions.versions[0]
    expect(v).toMatchObject({ version: 1, size: file.bytes.length })
    expect((await downloadByChunks(second.url, v.manifestCid)).equals(file.bytes)).toBe(true)
    expect((await getJson(`${second.url}/ingests/${uploadId}`)).version.manifestCid).toBe(v.manifestCid)
    // the raw upload is gone
    expect((await tusRequest(`${second.url}/uploads/${uploadId}`, 'HEAD')).status).toBe(404)
  })
})
