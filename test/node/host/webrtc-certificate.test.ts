/**
 * The WebRTC-Direct certificate kept in a file: made once, read back at each start, and
 * replaced (with a warning) when the file cannot be used. Over real WebRTC-Direct
 * connections, across restarts of a node: `webrtc-restart.test.ts`.
 */
import 'reflect-metadata'
import { createPrivateKey, X509Certificate as NodeX509Certificate, webcrypto } from 'node:crypto'
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { PemConverter, X509CertificateGenerator } from '@peculiar/x509'
import { afterEach, describe, expect, it } from 'vitest'
import { loadWebRTCDirectCertificate } from '../../../node/host/webrtc-certificate.ts'
import { Harness } from '../utils/harness.ts'
import { recordingLogger } from './recording-logger.ts'

describe('the WebRTC-Direct certificate kept in the data directory', () => {
  const h = new Harness()
  afterEach(async () => await h.teardown())

  it('is made and written (owner-only) at the first start, then read back unchanged at each start', async () => {
    const { logger, errors } = recordingLogger()
    // the data directory of a node that has never started may not exist yet
    const path = join(await h.tempDir(), 'data', 'webrtc-certificate.pem')
    const first = await loadWebRTCDirectCertificate({ logger }, { path })
    expect((await stat(path)).mode & 0o777).toBe(0o600)
    const again = await loadWebRTCDirectCertificate({ logger }, { path })
    expect(again).toEqual(first)
    expect(errors).toEqual([])

    // a valid self-signed P-256 certificate with its key, valid on any clock
    const cert = new NodeX509Certificate(first.pem)
    expect(cert.verify(cert.publicKey)).toBe(true)
    expect(cert.checkPrivateKey(createPrivateKey(first.privateKey))).toBe(true)
    expect(cert.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1')
    expect(cert.validFromDate.getTime()).toBe(0)
    expect(cert.validToDate.toISOString()).toBe('9999-12-31T23:59:59.000Z')
    // the certhash is the multibase (u) SHA-256 multihash (0x12 0x20) of the certificate
    const digest = new Uint8Array(await webcrypto.subtle.digest('SHA-256', cert.raw))
    expect(first.certhash).toBe(`u${Buffer.from([0x12, 0x20, ...digest]).toString('base64url')}`)
  })

  it('is a new one at each start without a data directory', async () => {
    const { logger } = recordingLogger()
    const a = await loadWebRTCDirectCertificate({ logger })
    const b = await loadWebRTCDirectCertificate({ logger })
    expect(b.certhash).not.toBe(a.certhash)
  })

  it.each([
    ['garbage', async () => 'not a certificate'],
    ['a truncated file', async (valid: string) => valid.slice(0, valid.length / 2)],
    ['a certificate without its key', async (valid: string) => valid.split('-----BEGIN PRIVATE KEY')[0]],
    [
      "another certificate's key",
      async (valid: string) => {
        const other = await loadWebRTCDirectCertificate({ logger: recordingLogger().logger })
        return `${valid.split('-----BEGIN PRIVATE KEY')[0]}${other.privateKey}\n`
      },
    ],
    ['an expired certificate', async () => await expiredCertificate()],
  ])('replaces %s with a new certificate, with a warning that the address changes', async (_, corrupt) => {
    const { logger, errors } = recordingLogger()
    const path = join(await h.tempDir(), 'webrtc-certificate.pem')
    const old = await loadWebRTCDirectCertificate({ logger }, { path })
    await writeFile(path, await corrupt(await readFile(path, 'utf8')))

    const replaced = await loadWebRTCDirectCertificate({ logger }, { path })
    expect(replaced.certhash).not.toBe(old.certhash)
    expect(errors).toHaveLength(1)
    expect(errors[0]).toContain('WARNING')
    expect(errors[0]).toContain(path)
    expect(errors[0]).toContain('/certhash/ address changes')
    // the new one is kept: the next start has it, without a warning
    expect(await loadWebRTCDirectCertificate({ logger }, { path })).toEqual(replaced)
    expect(errors).toHaveLength(1)
  })

  it('still gives a certificate when its file can be neither read nor written', async () => {
    const { logger, errors } = recordingLogger()
    const path = join(await h.tempDir(), 'webrtc-certificate.pem')
    await mkdir(path)
    const certificate = await loadWebRTCDirectCertificate({ logger }, { path })
    expect(certificate.certhash).toMatch(/^u/)
    expect(errors.join('\n')).toContain('could not write the WebRTC-Direct certificate')
  })
})

/** A certificate and key file whose certificate expired yesterday. */
async function expiredCertificate(): Promise<string> {
  const keys = await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, [
    'sign',
    'verify',
  ])
  const cert = await X509CertificateGenerator.createSelfSigned(
    {
      name: 'CN=expired',
      notBefore: new Date(Date.now() - 10 * 86_400_000),
      notAfter: new Date(Date.now() - 86_400_000),
      keys,
    },
    webcrypto,
  )
  const key = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)
  return `${cert.toString('pem')}\n${PemConverter.encode(key, PemConverter.PrivateKeyTag)}\n`
}
