import { getEventListeners } from 'node:events'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { uploadFile } from '../../origin/client.ts'
import { Fixture, MiB, TOKEN } from './utils.ts'

const fx = new Fixture()
afterEach(() => fx.cleanup())

describe('upload client', () => {
  it('leaves no abort listener on a long-lived signal once each upload settles', async () => {
    const origin = await fx.origin()
    const file = await fx.file(MiB)
    // e.g. a CLI's shutdown signal, shared by every upload of the process
    const shutdown = new AbortController()
    const opts = {
      origin: origin.url,
      token: TOKEN,
      name: 'lesson',
      type: 'video' as const,
      signal: shutdown.signal,
    }
    for (const v of [1, 2, 3]) {
      expect((await uploadFile(file.path, opts)).version).toBe(v)
      expect(getEventListeners(shutdown.signal, 'abort')).toHaveLength(0)
    }
    const refused = uploadFile(file.path, { ...opts, sha256: '0'.repeat(64), retryDelays: [] })
    await expect(refused).rejects.toMatchObject({ name: 'UploadFailedError', status: 422 })
    expect(getEventListeners(shutdown.signal, 'abort')).toHaveLength(0)
  })

  it('honours an abort that comes while the state file is being prepared', async () => {
    const origin = await fx.origin()
    const file = await fx.file(MiB)
    const ctl = new AbortController()
    const upload = uploadFile(file.path, {
      origin: origin.url,
      token: TOKEN,
      name: 'lesson',
      type: 'video',
      stateFile: join(await fx.dir(), 'state', 'uploads.json'),
      signal: ctl.signal,
    })
    // uploadFile is now awaiting the state file's directory
    ctl.abort()
    await expect(upload).rejects.toMatchObject({ name: 'AbortError' })
    expect(await origin.listVersions()).toEqual([])
  })
})
