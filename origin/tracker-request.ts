/**
 * One registration request to the tracker (`POST /api/v1/resources/:name/versions`) and
 * what its answer means: registered, refused for good, or failed for a reason said in
 * plain words. A redirect is a failure naming where it points, never followed.
 */
import type { PublishedVersion } from './index.ts'

/** One request that takes longer (a tracker that accepts connections but never answers) fails. */
export const REGISTER_REQUEST_TIMEOUT_MS = 30_000
/** Characters of a tracker's answer kept in a reason. */
const MAX_REASON_BODY_CHARS = 200

/** The tracker answered with an error status. */
export class TrackerAnswerError extends Error {
  override name = 'TrackerAnswerError'
  readonly status: number
  constructor(status: number, reason: string) {
    super(reason)
    this.status = status
  }

  /** Retrying cannot fix it (a 4xx other than 401, 403, 408, 429). */
  get permanent(): boolean {
    return this.status >= 400 && this.status < 500 && ![401, 403, 408, 429].includes(this.status)
  }

  get tokenRefused(): boolean {
    return this.status === 401 || this.status === 403
  }
}

/** An error's reason in plain words: fetch's own message says only "fetch failed". */
export function reasonOf(err: unknown): string {
  const e = err as Error
  if (e.name === 'TimeoutError') return `no answer within ${REGISTER_REQUEST_TIMEOUT_MS / 1000} s`
  return e.cause instanceof Error ? e.cause.message : e.message
}

/** The tracker's error answer as `status code: message` (a redirect: where it points). */
async function answerReason(res: Response): Promise<string> {
  if (res.status >= 300 && res.status < 400) {
    await res.body?.cancel()
    const location = res.headers.get('location')
    let to = location ?? 'nowhere named'
    try {
      if (location !== null) to = new URL(location, res.url).toString()
    } catch {}
    return `${res.status} redirect to ${to} (not followed: set the tracker URL to where the tracker is)`
  }
  const text = (await res.text().catch(() => '')).slice(0, MAX_REASON_BODY_CHARS)
  let said = text
  try {
    const body = JSON.parse(text) as { error?: { code?: string; message?: string } }
    if (body.error !== undefined) said = [body.error.code, body.error.message].filter(Boolean).join(': ')
  } catch {}
  return `${res.status}${said === '' ? '' : ` ${said}`}`
}

/**
 * Registers `v` with the tracker at `base`, within {@link REGISTER_REQUEST_TIMEOUT_MS}, or
 * until `signal` (the registration's own) aborts.
 * @throws TrackerAnswerError when the tracker answers with an error status; fetch's error
 * when it cannot be reached or does not answer in time
 */
export async function postVersion(
  base: string,
  token: string,
  v: PublishedVersion,
  signal: AbortSignal,
): Promise<void> {
  // one attempt's own deadline, ended with the registration too; both cleared after it
  const attempt = new AbortController()
  const onStop = (): void => attempt.abort(signal.reason)
  signal.addEventListener('abort', onStop, { once: true })
  const timer = setTimeout(
    () => attempt.abort(new DOMException('registration request timed out', 'TimeoutError')),
    REGISTER_REQUEST_TIMEOUT_MS,
  )
  try {
    const res = await fetch(`${base}/api/v1/resources/${encodeURIComponent(v.name)}/versions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        version: v.version,
        manifestCid: v.manifestCid,
        size: v.size,
        type: v.type,
        mime: v.mime,
      }),
      signal: attempt.signal,
      // Not followed: a redirect (a proxy sending http to https, a tracker moved) turns
      // this POST into a GET on 301/302/303 and drops the token on another origin
      // (Fetch standard, "HTTP-redirect fetch"), so a 200 at the end of it is not a
      // registration: it was counted as one, the version never registered. The operator
      // is told where it points instead, to set --tracker-url to it.
      redirect: 'manual',
    })
    if (res.ok) {
      await res.body?.cancel()
      return
    }
    throw new TrackerAnswerError(res.status, await answerReason(res))
  } finally {
    clearTimeout(timer)
    signal.removeEventListener('abort', onStop)
  }
}
