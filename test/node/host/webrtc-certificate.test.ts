import { createPrivateKey, X509Certificate } from 'node:crypto'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { describe, expect, it } from 'vitest'
import { webRTCDirectCertificate } from '../../../node/host/webrtc-certificate.ts'

describe('the WebRTC-Direct certificate derived from the identity key', () => {
  it('is the same for the same identity, another for another, and is a valid self-signed P-256 certificate', async () => {
    const identity = await generateKeyPair('Ed25519')
    const a = await webRTCDirectCertificate(identity)
    const b = await webRTCDirectCertificate(identity)
    expect(b).toEqual(a)
    expect((await webRTCDirectCertificate(await generateKeyPair('Ed25519'))).certhash).not.toBe(a.certhash)

    const cert = new X509Certificate(a.pem)
    expect(cert.verify(cert.publicKey)).toBe(true)
    expect(cert.checkPrivateKey(createPrivateKey(a.privateKey))).toBe(true)
    expect(cert.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1')
    expect(new Date(cert.validTo).getUTCFullYear()).toBe(2099)
  })
})
