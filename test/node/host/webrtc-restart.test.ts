import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { afterEach, describe, expect, it } from 'vitest'
import {
  loadWebRTCDirectCertificate,
  WEBRTC_CERTIFICATE_FILE,
} from '../../../node/host/webrtc-certificate.ts'
import type { DandelionNode } from '../../../node/index.ts'
import { addContent, Harness, originKey, randomContent, readAll, until } from '../utils/harness.ts'
import { recordingLogger } from './recording-logger.ts'

const listen = ['/ip4/127.0.0.1/udp/0/webrtc-direct']

const webrtcAddr = (n: DandelionNode): string | undefined =>
  n.multiaddrs.map(String).find((a) => a.includes('/webrtc-direct'))

const certhashOf = (addr: string | undefined): string | undefined =>
  /\/certhash\/([^/]+)/.exec(addr ?? '')?.[1]

describe('a campus node reached over WebRTC-Direct restarts', () => {
  const h = new Harness()
  afterEach(async () => await h.teardown())

  it('keeps its certhash across a restart with the same data directory, so a device configured with its address reconnects and fetches', async () => {
    const identity = await generateKeyPair('Ed25519')
    const dataDir = await h.tempDir()
    const before = await h.spawn({ privateKey: identity, dataDir, webrtc: true, listen })
    const old = webrtcAddr(before)
    expect(certhashOf(old)).toBeDefined()
    await before.stop()

    // the same node (same identity, same data directory) comes back, now holding a lesson
    const campus = await h.spawn({ privateKey: identity, dataDir, webrtc: true, listen })
    const now = webrtcAddr(campus)!
    expect(certhashOf(now)).toBe(certhashOf(old))

    // A campus node listens on the fixed port of its config; here it gets a new one (the ICE
    // listener of the stopped node keeps the old port in this process), and the device is
    // given the old address with only the port changed: what a device configured before the
    // restart dials
    const port = /\/udp\/(\d+)\//.exec(now)![1]
    const configured = old!.replace(/\/udp\/\d+\//, `/udp/${port}/`)
    const bytes = randomContent(300_000)
    const m = await addContent(campus.store, bytes, await originKey())
    await campus.seed(m)

    const device = await h.spawn({ role: 'device', webrtc: true, listen: [], bootstrap: [configured] })
    await until(() => device.libp2p.getConnections(campus.peerId).length > 0)
    await device.fetch(m.cid, { signal: AbortSignal.timeout(20_000) })
    expect(Buffer.from(await readAll(device, m)).equals(Buffer.from(bytes))).toBe(true)
    expect(device.libp2p.getConnections(campus.peerId)[0].remoteAddr.toString()).toContain('/webrtc-direct')
  })

  it('starts with a new certificate in place of a corrupt one, kept for the next start, and devices reach it', async () => {
    const dataDir = await h.tempDir()
    const file = join(dataDir, WEBRTC_CERTIFICATE_FILE)
    await writeFile(file, '-----BEGIN CERTIFICATE-----\nnot one\n-----END CERTIFICATE-----\n')

    const campus = await h.spawn({ dataDir, webrtc: true, listen })
    const addr = webrtcAddr(campus)!
    // the file now holds the certificate the node listens with (read back without a warning)
    const { logger, errors } = recordingLogger()
    expect((await loadWebRTCDirectCertificate({ logger }, { path: file })).certhash).toBe(certhashOf(addr))
    expect(errors).toEqual([])
    expect(await readFile(file, 'utf8')).toContain('-----BEGIN PRIVATE KEY-----')

    const device = await h.spawn({ role: 'device', webrtc: true, listen: [] })
    await device.libp2p.dial(campus.multiaddrs.find((a) => a.toString() === addr)!)
    expect(device.libp2p.getConnections(campus.peerId)[0].remoteAddr.toString()).toContain('/webrtc-direct')
  })
})
