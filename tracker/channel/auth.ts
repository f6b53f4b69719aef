/**
 * Channel authentication: the node proves it holds the private key of the PeerId it
 * claims by signing the tracker's one-time challenge. No shared secret is involved after
 * enrollment, so one node cannot speak as another.
 */
import type { PublicKey } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { authPayload } from '../../node/agent/protocol.ts'

export { newNonce } from '../../node/agent/tracker-auth.ts'

/**
 * Verifies a hello signature. The PeerId must be an ed25519 one (its multihash embeds the
 * public key); anything else, or a bad signature, is refused.
 */
export async function verifyHello(nonce: string, peerId: string, sigB64: string): Promise<boolean> {
  let key: PublicKey | undefined
  try {
    key = peerIdFromString(peerId).publicKey
  } catch {
    return false
  }
  if (key === undefined || key.type !== 'Ed25519') return false
  const sig = Buffer.from(sigB64, 'base64url')
  if (sig.length !== 64) return false
  try {
    return await key.verify(authPayload(nonce, peerId), sig)
  } catch {
    return false
  }
}

export { safeEqual } from '../../node/safe-equal.ts'
