/**
 * The WebRTC-Direct TLS certificate of a node, kept in its data directory so that it is
 * the same at every start.
 *
 * A WebRTC-Direct address carries the hash of the listener's certificate (`/certhash/…`)
 * and a dialer refuses any other certificate. @libp2p/webrtc makes a new key and
 * certificate at each start unless libp2p has a persistent datastore and keychain, which
 * the host has not, and renews it every 13 days even then. So each restart of a campus
 * node (a power cut, an update) changed its address: every device configured with the old
 * one failed each dial and never reached the campus again until someone re-typed the
 * address on each device.
 *
 * Here the certificate is made once, with @peculiar/x509 (what @libp2p/webrtc makes its
 * own with), written to {@link WEBRTC_CERTIFICATE_FILE} in the data directory and read back
 * at every start. @libp2p/webrtc uses a certificate it is given as it is: it neither checks
 * its dates nor renews it (only certificates it made itself get a renewal timer:
 * `getCertificate` in its `private-to-public/transport.js`). Ours is valid from the epoch
 * to the end of 9999, so no clock, right or wrong, sees it expired or not yet valid, and
 * it never needs renewing. A file that cannot be used (unreadable, not a certificate and
 * its key, expired) is replaced by a new certificate with an error logged, never a failed
 * start: the address changes then, as the log says.
 */
// @peculiar/x509 resolves its parts with tsyringe, which needs the Reflect metadata API
import 'reflect-metadata'
import { createPrivateKey, webcrypto, X509Certificate } from 'node:crypto'
import { mkdir, readFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import type { Logger } from '@libp2p/interface'
import type { TransportCertificate } from '@libp2p/webrtc'
import { BasicConstraintsExtension, PemConverter, X509CertificateGenerator } from '@peculiar/x509'
import { base64url } from 'multiformats/bases/base64'
import { sha256 } from 'multiformats/hashes/sha2'
import { writeFileDurably } from '../durable-file.ts'

/** Name of the certificate's file in the data directory: the certificate, then its key, PEM. */
export const WEBRTC_CERTIFICATE_FILE = 'webrtc-certificate.pem'

/**
 * End of the certificate's validity. RFC 5280 §4.1.2.5: "To indicate that a certificate
 * has no well-defined expiration date, the notAfter SHOULD be assigned the GeneralizedTime
 * value of 99991231235959Z."
 */
const NOT_AFTER = new Date('9999-12-31T23:59:59Z')

/** Components of {@link loadWebRTCDirectCertificate}. */
export interface WebRTCDirectCertificateComponents {
  logger: Logger
  /** Where a warning the operator must see goes (the address changes). @default the logger's `error` */
  warn?: (message: string) => void
}

/** Options of {@link loadWebRTCDirectCertificate}. */
export interface WebRTCDirectCertificateInit {
  /**
   * The file the certificate is kept in (its directory is made if missing). @default none:
   * a new certificate at each call
   */
  path?: string
}

/**
 * The certificate kept at `init.path`, made and written there first if there is none or
 * it cannot be used; a new one each call without a path. Never fails for a bad file: only
 * for a failure to make a certificate at all.
 */
export async function loadWebRTCDirectCertificate(
  components: WebRTCDirectCertificateComponents,
  init: WebRTCDirectCertificateInit = {},
): Promise<TransportCertificate> {
  const log = components.logger
  const warn = components.warn ?? ((message: string) => log.error(message))
  const path = init.path
  if (path === undefined) return await transportCertificate(await generate())

  let text: string | undefined
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') warn(replacing(path, (err as Error).message))
  }
  if (text !== undefined) {
    try {
      const certificate = await transportCertificate(parse(text))
      log('WebRTC-Direct certificate %s read from %s', certificate.certhash, path)
      return certificate
    } catch (err) {
      warn(replacing(path, (err as Error).message))
    }
  }

  const der = await generate()
  const certificate = await transportCertificate(der)
  try {
    // written whole and synced: a power cut soon after must not lose it (the address would change)
    await mkdir(dirname(path), { recursive: true })
    await writeFileDurably(path, toPem(der), { mode: 0o600 })
    log('new WebRTC-Direct certificate %s written to %s', certificate.certhash, path)
  } catch (err) {
    warn(
      `WARNING: could not write the WebRTC-Direct certificate to ${path} (${(err as Error).message}): this node listens with ${certificate.certhash} until it stops, with another /certhash/ address after its next start`,
    )
  }
  return certificate
}

function replacing(path: string, reason: string): string {
  return `WARNING: ${path} does not hold a usable WebRTC-Direct certificate (${reason}): replacing it with a new one, so this node's /certhash/ address changes and devices configured with the old address must be given the new one`
}

/** A certificate and its key, DER: the certificate's, and the key's PKCS#8. */
interface CertificateDer {
  cert: ArrayBuffer
  key: ArrayBuffer
}

/** A new self-signed P-256 certificate and its key. */
async function generate(): Promise<CertificateDer> {
  const keys = await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, [
    'sign',
    'verify',
  ])
  const cert = await X509CertificateGenerator.createSelfSigned(
    {
      name: 'CN=dandelion',
      notBefore: new Date(0),
      notAfter: NOT_AFTER,
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
      keys,
      // not a CA, as @libp2p/webrtc's own certificates
      extensions: [new BasicConstraintsExtension(false, undefined, true)],
    },
    webcrypto,
  )
  return { cert: cert.rawData, key: await webcrypto.subtle.exportKey('pkcs8', keys.privateKey) }
}

/** The file's text: the certificate, then its key, PEM. */
function toPem(der: CertificateDer): string {
  return `${PemConverter.encode(der.cert, PemConverter.CertificateTag)}\n${PemConverter.encode(der.key, PemConverter.PrivateKeyTag)}\n`
}

/** The certificate and key of a file's text, checked to be one certificate, its key, and in date. */
function parse(text: string): CertificateDer {
  const blocks = PemConverter.decodeWithHeaders(text)
  const certs = blocks.filter((b) => b.type === PemConverter.CertificateTag)
  const keys = blocks.filter((b) => b.type === PemConverter.PrivateKeyTag)
  if (certs.length !== 1 || keys.length !== 1)
    throw new Error(`${certs.length} certificates and ${keys.length} private keys where one of each belongs`)
  const cert = new X509Certificate(Buffer.from(certs[0].rawData))
  if (cert.validToDate.getTime() <= Date.now())
    throw new Error(`it expired on ${cert.validToDate.toISOString()}`)
  const key = createPrivateKey({ key: Buffer.from(keys[0].rawData), format: 'der', type: 'pkcs8' })
  if (!cert.checkPrivateKey(key)) throw new Error('its private key is not the certificate’s')
  return { cert: certs[0].rawData, key: keys[0].rawData }
}

/** The certificate as `webRTCDirect({ certificate })` takes it. */
async function transportCertificate(der: CertificateDer): Promise<TransportCertificate> {
  return {
    pem: PemConverter.encode(der.cert, PemConverter.CertificateTag),
    privateKey: PemConverter.encode(der.key, PemConverter.PrivateKeyTag),
    // as @libp2p/webrtc makes it: multibase base64url of the SHA-256 multihash of the DER
    certhash: base64url.encode((await sha256.digest(new Uint8Array(der.cert))).bytes),
  }
}
