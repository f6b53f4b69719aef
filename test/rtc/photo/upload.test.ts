import { getEventListeners } from 'node:events'
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import { uploadPhoto } from '../../../rtc/photo/upload.ts'

// the origin is another service: imported only when this checkout has it (as the e2e test does)
const originIndex = fileURLToPath(new URL('../../../origin/index.ts', import.meta.url))
const TOKEN = 'origin-upload-token'

let origin: { url: string; close(): Promise<void> } | undefined
let dir: string | undefined
afterEach(async () => {
  await origin?.close()
  if (dir) await rm(dir, { recursive: true, force: true })
})

async function startOrigin(): Promise<{ url: string; close(): Promise<void> }> {
  dir = await mkdtemp(join(tmpdir(), 'rtc-photo-'))
  const { createOrigin } = (await import(originIndex)) as typeof import('../../../origin/index.ts')
  return createOrigin({ dataDir: dir, token: TOKEN, port: 0, hashWorkers: 1 })
}

describe('photo upload', () => {
  it.skipIf(!existsSync(originIndex))(
    'leaves no abort listener on a long-lived signal, so a later abort cannot touch finished uploads',
    async () => {
      origin = await startOrigin()
      // e.g. the lamp's session signal, shared by every photo taken during a lesson
      const session = new AbortController()
      const urls: string[] = []
      for (const i of [1, 2, 3]) {
        const photo = Buffer.alloc(1000, i)
        const name = `homework-lamp-${i}`
        urls.push(
          await uploadPhoto(
            { origin: origin.url, token: TOKEN },
            photo,
            { name, filename: `${name}.jpg` },
            {
              signal: session.signal,
            },
          ),
        )
        expect(getEventListeners(session.signal, 'abort')).toHaveLength(0)
      }
      const refused = uploadPhoto(
        { origin: origin.url, token: 'wrong', retryDelays: [] },
        Buffer.from('x'),
        {
          name: 'n',
          filename: 'n.jpg',
        },
        { signal: session.signal },
      )
      await expect(refused).rejects.toMatchObject({ name: 'PhotoUploadError' })
      expect(getEventListeners(session.signal, 'abort')).toHaveLength(0)
      session.abort()
      for (const url of urls) expect((await fetch(url)).status).toBe(200)
    },
  )
})
