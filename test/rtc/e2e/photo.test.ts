/**
 * Homework photo round trip: the teacher sends `capture-photo`, the lamp uploads over tus to a
 * real origin, the teacher gets the URL in the ACK and the origin serves the same bytes there.
 */
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import { lampControls, uploadPhoto } from '../../../rtc/photo/upload.ts'
import { type Harness, spawn } from '../signaling/harness.ts'

const originIndex = fileURLToPath(new URL('../../../origin/index.ts', import.meta.url))
const ORIGIN_TOKEN = 'origin-upload-token'

let h: Harness | undefined
let origin: { url: string; close(): Promise<void> } | undefined
let dir: string | undefined
afterEach(async () => {
  await h?.teardown()
  await origin?.close()
  if (dir) await rm(dir, { recursive: true, force: true })
})

async function startOrigin(): Promise<{ url: string; close(): Promise<void> }> {
  dir = await mkdtemp(join(tmpdir(), 'rtc-photo-'))
  const { createOrigin } = (await import(originIndex)) as typeof import('../../../origin/index.ts')
  return createOrigin({ dataDir: dir, token: ORIGIN_TOKEN, port: 0, hashWorkers: 1 })
}

/** Stand-in for a camera: a JPEG-looking still of ~1.5 MB (more than one origin chunk). */
function still(): Buffer {
  const b = Buffer.alloc(1_500_000)
  for (let i = 0; i < b.length; i++) b[i] = (i * 31 + (i >> 9)) & 0xff
  b.set([0xff, 0xd8, 0xff, 0xe0], 0)
  return b
}

describe('homework photo', () => {
  it.skipIf(!existsSync(originIndex))(
    'is captured by the lamp, uploaded over tus and served by the origin',
    async () => {
      origin = await startOrigin()
      h = await spawn({ origin: origin.url })
      const photo = still()
      let shots = 0
      const t = await h.join('t', 'teacher', { room: 'r', kind: 'one-on-one' })
      const lamp = await h.join('lamp', 'student', {
        room: 'r',
        onControl: lampControls(
          {
            camera: async () => {
              shots++
              return photo
            },
          },
          { origin: origin.url, token: ORIGIN_TOKEN, device: 'lamp' },
        ),
      })
      expect(lamp.origin).toBe(origin.url)
      const ack = await t.control('lamp', { kind: 'capture-photo' })
      expect(ack.ok).toBe(true)
      const url = ack.result?.url ?? ''
      expect(url.startsWith(`${origin.url}/resources/`)).toBe(true)
      const res = await fetch(url)
      expect(res.status).toBe(200)
      expect(Buffer.from(await res.arrayBuffer()).equals(photo)).toBe(true)
      expect(shots).toBe(1)
    },
  )

  it.skipIf(!existsSync(originIndex))('reports a refused upload as a typed error', async () => {
    origin = await startOrigin()
    const err = await uploadPhoto({ origin: origin.url, token: 'wrong', retryDelays: [] }, Buffer.from('x'), {
      name: 'n',
      filename: 'n.jpg',
    }).catch((e: unknown) => e)
    expect(err).toMatchObject({ name: 'PhotoUploadError', code: 'ERR_PHOTO_UPLOAD' })
  })
})
