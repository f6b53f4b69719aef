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
/** Characters of the tracker's own error message kept (it explains why a version is in use). */
const MAX_DETAIL_CHARS = 2000

/** The tracker answered with an error status. */
export class TrackerAnswerError extends Error {
  override name = 'TrackerAnswerError'
  readonly status: number
  /** The tracker's own `error.message`, when its answer carried one. */
  readonly detail: string | undefined
  /** The tracker's `error.code`, when its answer carried one. */
  readonly code: string | undefined
  constructor(status: number, reason: string, said: { code?: string; detail?: string } = {}) {
    super(reason)
    this.status = status
    this.detail = said.detail
    this.code = said.code
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
async function answerError(res: Response): Promise<TrackerAnswerError> {
  if (res.status >= 300 && res.status < 400) {
    await res.body?.cancel()
    const location = res.headers.get('location')
    let to = location ?? 'nowhere named'
    try {
      if (location !== null) to = new URL(location, res.url).toString()
    } catch {}
    return new TrackerAnswerError(
      res.status,
      `${res.status} redirect to ${to} (not followed: set the tracker URL to where the tracker is)`,
    )
  }
  const text = await res.text().catch(() => '')
  let said = text.slice(0, MAX_REASON_BODY_CHARS)
  let detail: string | undefined
  let code: string | undefined
  try {
    const body = JSON.parse(text) as { error?: { code?: string; message?: string } }
    if (body.error !== undefined) {
      code = typeof body.error.code === 'string' ? body.error.code.slice(0, 100) : undefined
      detail = body.error.message?.slice(0, MAX_DETAIL_CHARS)
      said = [body.error.code, body.error.message?.slice(0, MAX_REASON_BODY_CHARS)].filter(Boolean).join(': ')
    }
  } catch {}
  return new TrackerAnswerError(res.status, `${res.status}${said === '' ? '' : ` ${said}`}`, { code, detail })
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
  await request(`${base}/api/v1/resources/${encodeURIComponent(v.name)}/versions`, signal, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      version: v.version,
      manifestCid: v.manifestCid,
      size: v.size,
      type: v.type,
      mime: v.mime,
    }),
  })
}

/**
 * Tells the tracker at `base` that version `v` is removed
 * (`DELETE /api/v1/resources/:name/versions/:version`), which it refuses with 409 while a
 * node runs it, a release carries it or could roll back to it. Same deadline as
 * {@link postVersion}.
 * @throws TrackerAnswerError when the tracker answers with an error status (404: it never
 * registered the version); fetch's error when it cannot be reached or does not answer in time
 */
export async function deleteVersion(
  base: string,
  token: string,
  v: PublishedVersion,
  signal: AbortSignal,
): Promise<void> {
  await request(`${base}/api/v1/resources/${encodeURIComponent(v.name)}/versions/${v.version}`, signal, {
    method: 'DELETE',
    headers: { authorization: `Bearer ${token}` },
  })
}

/** One request to the tracker, within its deadline; an error status throws. */
async function request(url: string, signal: AbortSignal, init: RequestInit): Promise<void> {
  // one attempt's own deadline, ended with the caller's signal too; both cleared after it
  const attempt = new AbortController()
  const onStop = (): void => attempt.abort(signal.reason)
  signal.addEventListener('abort', onStop, { once: true })
  const timer = setTimeout(
    () => attempt.abort(new DOMException('tracker request timed out', 'TimeoutError')),
    REGISTER_REQUEST_TIMEOUT_MS,
  )
  try {
    const res = await fetch(url, {
      ...init,
      signal: attempt.signal,
      // Not followed: a redirect (a proxy sending http to https, a tracker moved) turns
      // a POST into a GET on 301/302/303 and drops the token on another origin
      // (Fetch standard, "HTTP-redirect fetch"), so a 200 at the end of it is not a
      // registration: it was counted as one, the version never registered. The operator
      // is told where it points instead, to set --tracker-url to it.
      redirect: 'manual',
    })
    if (res.ok) {
      await res.body?.cancel()
      return
    }
    throw await answerError(res)
  } finally {
    clearTimeout(timer)
    signal.removeEventListener('abort', onStop)
  }
}
