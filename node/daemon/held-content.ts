/**
 * Content the node holds but will not serve: manifests in its store signed by an origin key
 * it no longer trusts. After an origin key rotation that dropped the old key from
 * `--trusted-origin` too early, every lesson signed by it answered 404 "not found" on the
 * playback port while its chunks sat on disk, and the daemon said nothing (the node logs
 * the refusal at a debug logger's error level only).
 */
import type { PublicKey } from '@libp2p/interface'
import { peerIdFromPublicKey } from '@libp2p/peer-id'
import { DAG_CBOR_CODEC } from '../constants.ts'
import { verifyManifest } from '../content/index.ts'
import type { DandelionNode } from '../index.ts'

/** Manifests held here that one untrusted key signed, and the names that play them. */
export interface UntrustedHolding {
  /** The signer's PeerId (what its origin printed as `origin key`). */
  signer: string
  /** How many manifests it signed. */
  count: number
  /** Some of those manifests' CIDs (at most {@link MAX_LISTED}). */
  manifests: string[]
  /** Names of the name table that point at one of them: lessons classrooms cannot play. */
  names: string[]
}

/** CIDs and names listed per signer: the count says how many there are. */
export const MAX_LISTED = 10

/**
 * Reads every manifest in `node`'s store and groups those whose signature verifies but
 * whose signer is not in `trusted`, by signer. Manifests that do not verify at all are
 * the store's concern, not a key's, and are left out.
 */
export async function untrustedHoldings(
  node: Pick<DandelionNode, 'store' | 'names'>,
  trusted: readonly PublicKey[],
  options: { signal?: AbortSignal } = {},
): Promise<UntrustedHolding[]> {
  const bySigner = new Map<string, { count: number; cids: Set<string> }>()
  for await (const cid of node.store.list()) {
    options.signal?.throwIfAborted()
    if (cid.code !== DAG_CBOR_CODEC) continue
    let bytes: Uint8Array | undefined
    try {
      bytes = await node.store.get(cid, options)
      await verifyManifest(bytes, { cid, trustedKeys: [...trusted] })
      continue
    } catch {
      // gone meanwhile, or refused: find out below whether the key alone refused it
    }
    if (bytes === undefined) continue
    let signer: string
    try {
      signer = peerIdFromPublicKey((await verifyManifest(bytes, { cid })).origin).toString()
    } catch {
      continue
    }
    const entry = bySigner.get(signer) ?? { count: 0, cids: new Set<string>() }
    entry.count++
    entry.cids.add(cid.toString())
    bySigner.set(signer, entry)
  }
  if (bySigner.size === 0) return []
  const names = await node.names.list()
  return [...bySigner].map(([signer, { count, cids }]) => ({
    signer,
    count,
    manifests: [...cids].slice(0, MAX_LISTED),
    names: names
      .filter((n) => cids.has(n.manifestCid))
      .map((n) => n.name)
      .slice(0, MAX_LISTED),
  }))
}

/** The line the daemon prints for one signer: what is not served, and the setting to change. */
export function untrustedHoldingLine(h: UntrustedHolding): Record<string, unknown> {
  const what = h.names.length > 0 ? ` (names: ${h.names.join(', ')})` : ''
  return {
    event: 'untrusted-content',
    signer: h.signer,
    count: h.count,
    manifests: h.manifests,
    names: h.names,
    message:
      `this node holds ${h.count} manifest(s)${what} signed by origin key ${h.signer}, which it does not trust: ` +
      'they are not served (playback answers 404) nor seeded. If that key was rotated out, keep it in ' +
      '--trusted-origin (DANDELION_TRUSTED_ORIGINS, "trustedOrigins") until the content it signed has been ' +
      'replaced by versions signed with the new key',
  }
}
