/**
 * The DHT key a manifest is announced and looked up under.
 *
 * kad-dht keeps provider records only for keys whose multihash reads back as a CID on its
 * own (`CID.decode(multihash)`), which holds for SHA-256 alone: a manifest CID hashed with
 * BLAKE3 is refused by every peer's ADD_PROVIDER and GET_PROVIDERS handler ("Invalid
 * CID"), so announcing it directly reaches nobody. Every node therefore derives the same
 * SHA-256 key from the manifest CID, tagged so it cannot collide with a real content CID,
 * and uses it for both.
 */
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'

const RAW = 0x55
const TAG = new TextEncoder().encode('dandelion/manifest-providers/1:')

export async function discoveryKey(manifest: CID): Promise<CID> {
  const input = new Uint8Array(TAG.byteLength + manifest.bytes.byteLength)
  input.set(TAG)
  input.set(manifest.bytes, TAG.byteLength)
  return CID.createV1(RAW, await sha256.digest(input))
}
