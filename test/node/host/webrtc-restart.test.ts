import { generateKeyPair } from '@libp2p/crypto/keys'
import { afterEach, describe, expect, it } from 'vitest'
import type { DandelionNode } from '../../../node/index.ts'
import { addContent, Harness, originKey, randomContent, readAll, until } from '../utils/harness.ts'

const webrtcAddr = (n: DandelionNode): string | undefined =>
  n.multiaddrs.map(String).find((a) => a.includes('/webrtc-direct'))

describe('a campus node reached over WebRTC-Direct restarts', () => {
  const h = new Harness()
  afterEach(async () => await h.teardown())

  it('keeps its certhash across a restart, so a device configured with its address reconnects and fetches', async () => {
    const identity = await generateKeyPair('Ed25519')
    const listen = ['/ip4/127.0.0.1/udp/0/webrtc-direct']
    const before = await h.spawn({ privateKey: identity, webrtc: true, listen })
    const old = webrtcAddr(before)
    expect(old).toContain('/certhash/')
    await before.stop()

    // the same node (same identity) comes back, now holding a lesson. A campus node listens
    // on the fixed port of its config; here it gets a new one (the ICE listener of the
    // stopped node keeps the old port in this process), and the device is given the old
    // address with only the port changed: what a device configured before the restart dials
    const campus = await h.spawn({ privateKey: identity, webrtc: true, listen })
    const now = webrtcAddr(campus)!
    const port = /\/udp\/(\d+)\//.exec(now)![1]
    const configured = old!.replace(/\/udp\/\d+\//, `/udp/${port}/`)
    const bytes = randomContent(300_000)
    const m = await addContent(campus.store, bytes, await originKey())
    await campus.seed(m)

    const device = await h.spawn({ role: 'device', webrtc: true, listen: [], bootstrap: [configured] })
    await until(() => device.libp2p.getConnections(campus.peerId).length > 0)
    await device.fetch(m.cid, { signal: AbortSignal.timeout(20_000) })
    expect(Buffer.from(await readAll(device, m)).equals(Buffer.from(bytes))).toBe(true)
    expect(now).toBe(configured)
  })
})
