/**
 * What playback answers when the manifest of the content asked for cannot be had. Until
 * session 16 every failure but a full lookup table was a 404 "not found", so content the
 * node held on disk but refused to serve — signed by an origin key dropped from
 * `--trusted-origin` too early — looked missing, and the operator looked for the fault in
 * the network.
 */
import type { CID } from 'multiformats/cid'
import type { ChunkStore } from '../store/index.ts'

/** An HTTP answer: status, headers and a JSON body with a stable `error` name. */
export interface LookupAnswer {
  status: number
  headers: Record<string, string>
  body: { error: string; message: string } & Record<string, unknown>
}

/** What {@link lookupFailure} reads of the error (matched by `name`, never by message). */
interface UntrustedLike {
  name: string
  code?: string
  message: string
  signer?: string
}

/**
 * The answer to a playback read whose manifest lookup of `cid` failed with `err`:
 * - `LimitReachedError`: 503 with `Retry-After` (too many lookups at once: busy, not missing);
 * - `UntrustedManifestError`: 502, naming the signer and the fix;
 * - anything else: 404 `ManifestNotFoundError` (no peer or origin gave it in time).
 */
export async function lookupFailure(
  store: Pick<ChunkStore, 'has'>,
  cid: CID,
  err: unknown,
  retryAfterS: number,
): Promise<LookupAnswer> {
  const e = err as UntrustedLike
  if (e?.name === 'LimitReachedError')
    return {
      status: 503,
      headers: { 'retry-after': String(retryAfterS) },
      body: { error: 'LimitReachedError', message: e.message },
    }
  if (e?.name === 'UntrustedManifestError') {
    // 502, not 404: the content is not missing (it may be on this node's disk), so a
    // player or cache must not take it for gone; and not 503, which this server answers
    // when it is busy, with a Retry-After — asking again changes nothing here until an
    // operator changes the node's trusted keys. As a gateway for its origin's content,
    // the node got (now or earlier) a manifest it may not accept: an invalid upstream
    // answer, as far as its settings go.
    const held = await store.has(cid).catch(() => false)
    const signer = e.signer ?? 'unknown'
    return {
      status: 502,
      headers: {},
      body: {
        error: 'UntrustedManifestError',
        code: e.code ?? 'ERR_MANIFEST_UNTRUSTED',
        message: `${held ? 'this node holds the content but does not serve it: ' : ''}${e.message}`,
        manifestCid: cid.toString(),
        signer,
        held,
        fix: `add ${signer} to --trusted-origin (DANDELION_TRUSTED_ORIGINS, "trustedOrigins") and restart the node, if that origin key is still to be trusted`,
      },
    }
  }
  return {
    status: 404,
    headers: {},
    body: { error: 'ManifestNotFoundError', message: `manifest ${cid.toString()} not found` },
  }
}
