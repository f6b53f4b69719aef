/** Closing werift connections made with our peer config gives back every UDP socket they opened. */
import { describe, expect, it } from 'vitest'
import { RTCPeerConnection } from 'werift'
import { peerConfig } from '../../../rtc/sfu/peer-config.ts'
import { until } from './media-harness.ts'

const udpSockets = (): number => process.getActiveResourcesInfo().filter((r) => r === 'UDPWrap').length

function connected(pc: RTCPeerConnection): Promise<void> {
  return new Promise((resolve) => {
    if (pc.connectionState === 'connected') resolve()
    const sub = pc.connectionStateChange.subscribe((s) => {
      if (s === 'connected') {
        sub.unSubscribe()
        resolve()
      }
    })
  })
}

describe('peer config', () => {
  it('leaves no UDP socket behind after an audio + video connection closes', async () => {
    const before = udpSockets()
    for (let i = 0; i < 3; i++) {
      const a = new RTCPeerConnection(peerConfig({ loopback: true }))
      const b = new RTCPeerConnection(peerConfig({ loopback: true }))
      a.addTransceiver('video', { direction: 'sendonly' })
      a.addTransceiver('audio', { direction: 'sendonly' })
      await a.setLocalDescription(await a.createOffer())
      await b.setRemoteDescription(a.localDescription!)
      await b.setLocalDescription(await b.createAnswer())
      await a.setRemoteDescription(b.localDescription!)
      await Promise.all([connected(a), connected(b)])
      await a.close()
      await b.close()
    }
    // werift closes its sockets after close() resolves; before, its default bundle policy left
    // one per connection open for good (6 here) and this waited in vain
    await until(() => udpSockets() === before, 'every UDP socket closed', 10_000)
    expect(udpSockets()).toBe(before)
  })
})
