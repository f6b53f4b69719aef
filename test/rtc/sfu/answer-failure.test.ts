/**
 * A subscriber's answer the SFU cannot use is refused as a media error and ends that negotiation:
 * the subscriber is offered the next tracks as before, without subscribing again.
 */

import { afterEach, describe, expect, it } from 'vitest'
import { RTCPeerConnection } from 'werift'
import { MediaError } from '../../../rtc/errors.ts'
import { peerConfig } from '../../../rtc/sfu/peer-config.ts'
import { SubscriberHub } from '../../../rtc/sfu/subscriber-hub.ts'

let hub: SubscriberHub | undefined
let peer: RTCPeerConnection | undefined
afterEach(async () => {
  await peer?.close()
  await hub?.close()
})

/** A hub whose offers are queued, and a way to wait for the next one. */
function offeringHub(): { hub: SubscriberHub; nextOffer(): Promise<string> } {
  const offers: string[] = []
  const waiters: Array<(sdp: string) => void> = []
  const h = new SubscriberHub(
    {
      offer: (_room, _user, sdp) => {
        const w = waiters.shift()
        if (w !== undefined) w(sdp)
        else offers.push(sdp)
      },
      keyframe: () => {},
    },
    { loopback: true },
  )
  const nextOffer = (): Promise<string> => {
    const queued = offers.shift()
    return queued !== undefined ? Promise.resolve(queued) : new Promise((r) => waiters.push(r))
  }
  return { hub: h, nextOffer }
}

/** A video m-line whose only codec the SFU never offered: werift refuses it, state unchanged. */
const NO_COMMON_CODEC = [
  'v=0',
  'o=- 1 1 IN IP4 127.0.0.1',
  's=-',
  't=0 0',
  'm=video 9 UDP/TLS/RTP/SAVPF 100',
  'c=IN IP4 0.0.0.0',
  'a=mid:0',
  'a=recvonly',
  'a=rtpmap:100 H265/90000',
  '',
].join('\r\n')

describe('an unusable subscribe answer', () => {
  it('is refused with ERR_MEDIA and the subscriber still gets the next offer', async () => {
    const h = offeringHub()
    hub = h.hub
    await hub.subscribe('r', 'u')
    const first = await h.nextOffer()
    expect(first.match(/^m=/gm)).toHaveLength(1)
    // before: werift's own Error (ERR_INTERNAL to the client), and `negotiating` stayed true
    const err = await hub.answer('r', 'u', NO_COMMON_CODEC).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(MediaError)
    expect((err as MediaError).code).toBe('ERR_MEDIA')
    // a track published afterwards is offered (before: no offer ever came)
    hub.addTrack({ id: 't1', room: 'r', owner: 'teacher', kind: 'video' })
    const second = await h.nextOffer()
    // on the idle video m-line of the first offer, now sending
    expect(second.match(/^m=/gm)).toHaveLength(1)
    expect(second).toContain('a=sendonly')
    // and a good answer to it is taken
    peer = new RTCPeerConnection(peerConfig({ loopback: true }))
    await peer.setRemoteDescription({ type: 'offer', sdp: second })
    await peer.setLocalDescription(await peer.createAnswer())
    await hub.answer('r', 'u', peer.localDescription!.sdp)
  }, 20_000)

  it("refuses an answer without the offer's m-lines instead of taking it as done", async () => {
    const h = offeringHub()
    hub = h.hub
    await hub.subscribe('r', 'u')
    await h.nextOffer()
    // before: werift accepted these (no m-lines, or not SDP at all) as a finished negotiation
    for (const junk of ['v=0\r\n', 'garbage']) {
      await expect(hub.answer('r', 'u', junk)).rejects.toMatchObject({ code: 'ERR_MEDIA' })
    }
    hub.addTrack({ id: 't1', room: 'r', owner: 'teacher', kind: 'audio' })
    expect((await h.nextOffer()).match(/^m=/gm)).toHaveLength(2)
  }, 20_000)
})
