/** A publish offer the SFU cannot use is refused as a media error and leaves nothing behind. */
import { afterEach, describe, expect, it } from 'vitest'
import { MediaError } from '../../../rtc/errors.ts'
import { WeriftSfu } from '../../../rtc/sfu/sfu.ts'

let sfu: WeriftSfu | undefined
afterEach(async () => {
  await sfu?.close()
})

describe('unusable publish offers', () => {
  it('rejects with ERR_MEDIA and keeps no publisher', async () => {
    sfu = new WeriftSfu({}, { loopback: true })
    sfu.attach({ offer() {}, speaker() {} })
    const offer = 'v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n'
    // before: werift's own Error (reported to the client as ERR_INTERNAL and logged as our
    // failure), with the half-made connection kept as the user's publisher
    const err = await sfu.publish('r', 'u', offer).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(MediaError)
    expect((err as MediaError).code).toBe('ERR_MEDIA')
    expect((await sfu.stats()).publishers).toBe(0)
    await expect(sfu.answer('r', 'nobody', 'v=0')).rejects.toBeInstanceOf(MediaError)
  })
})
