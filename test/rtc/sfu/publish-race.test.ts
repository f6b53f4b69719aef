import { afterEach, describe, expect, it, vi } from 'vitest'
import { RTCPeerConnection } from 'werift'
import { peerConfig } from '../../../rtc/sfu/peer-config.ts'
import { WeriftSfu } from '../../../rtc/sfu/sfu.ts'

const cleanup: Array<() => Promise<void>> = []
afterEach(async () => {
  vi.restoreAllMocks()
  for (const c of cleanup.splice(0)) await c()
})

/** A publisher's offer: a sendonly video and audio track, like `publish()` in rtc/client. */
async function offer(): Promise<string> {
  const pc = new RTCPeerConnection(peerConfig({ loopback: true }))
  cleanup.push(() => pc.close())
  pc.addTransceiver('video', { direction: 'sendonly' })
  pc.addTransceiver('audio', { direction: 'sendonly' })
  await pc.setLocalDescription(await pc.createOffer())
  return pc.localDescription!.sdp
}

describe('werift SFU publish', () => {
  it('closes the earlier connection when one user publishes twice at once', async () => {
    const sfu = new WeriftSfu({}, { loopback: true })
    cleanup.push(() => sfu.close())
    const [first, second] = [await offer(), await offer()]
    // every connection the SFU answers a publish offer with
    const answering: RTCPeerConnection[] = []
    const setRemote = RTCPeerConnection.prototype.setRemoteDescription
    vi.spyOn(RTCPeerConnection.prototype, 'setRemoteDescription').mockImplementation(function (
      this: RTCPeerConnection,
      description,
    ) {
      if (description.type === 'offer') answering.push(this)
      return setRemote.call(this, description)
    })
    const answers = await Promise.all([sfu.publish('r', 'u', first), sfu.publish('r', 'u', second)])
    expect(answers).toHaveLength(2)
    expect(answering).toHaveLength(2)
    expect((await sfu.stats()).publishers).toBe(1)
    expect(answering.map((pc) => pc.signalingState)).toEqual(['closed', 'stable'])
    await sfu.unpublish('r', 'u')
    expect(answering.every((pc) => pc.signalingState === 'closed')).toBe(true)
  })
})
