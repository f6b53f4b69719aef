import { afterEach, describe, expect, it } from 'vitest'
import { addContent, Harness, originKey, randomContent, readAll } from '../utils/harness.ts'

describe('devices over WebRTC-Direct', () => {
  const h = new Harness()
  afterEach(async () => await h.teardown())

  it('a device fetches from a campus node over a WebRTC-Direct connection', async () => {
    const key = await originKey()
    const bytes = randomContent(1024 * 1024)
    const campus = await h.spawn({ webrtc: true, listen: ['/ip4/127.0.0.1/udp/0/webrtc-direct'] })
    const manifest = await addContent(campus.store, bytes, key)
    await campus.seed(manifest)
    const addr = campus.multiaddrs.find((a) => a.toString().includes('/webrtc-direct'))
    expect(addr).toBeDefined()

    const device = await h.spawn({ role: 'device', webrtc: true, listen: [] })
    await device.libp2p.dial(addr!)
    await device.fetch(manifest.cid)
    expect(Buffer.from(await readAll(device, manifest)).equals(Buffer.from(bytes))).toBe(true)
    const conn = device.libp2p.getConnections(campus.peerId)[0]
    expect(conn.remoteAddr.toString()).toContain('/webrtc-direct')
  })
})
