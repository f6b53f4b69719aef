/**
 * The admin API as `dandelion release` calls it: requests with the operator's token, the
 * API's error answers and an unreachable tracker as errors that say so, and the two requests
 * retried when their answer was lost (a create under the same idempotency key, an advance
 * from the same stage), which the tracker makes safe to send twice.
 */
import { DandelionError, InvalidConfigError } from '../node/errors.ts'

/** Where the tracker's address comes from, as the refusals name it. */
export const TRACKER_SETTING = '--tracker / DANDELION_TRACKER_URL'

/** Calls the admin API; throws with the API's error code on failure. */
export async function call(
  base: string,
  token: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<unknown> {
  let res: Response
  try {
    res = await fetch(`${base}/api/v1${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...headers,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    })
  } catch (err) {
    // fetch rejects with a TypeError ("fetch failed") whose cause says what went wrong
    if (err instanceof TypeError) throw new TrackerUnreachableError(base, err)
    throw err
  }
  const json = (await res.json().catch(() => ({}))) as { error?: { code: string; message: string } }
  if (!res.ok) throw new ApiError(res.status, json.error?.code ?? '', json.error?.message ?? '')
  if (res.headers.get('idempotent-replayed') === 'true')
    process.stderr.write('(an earlier request with this idempotency key created it; no new release)\n')
  return json
}

/** An error answer of the admin API. */
class ApiError extends Error {
  readonly status: number
  readonly code: string
  constructor(status: number, code: string, message: string) {
    super(`${status} ${code} ${message}`.trim())
    this.status = status
    this.code = code
  }
}

/**
 * No answer from the tracker: the connection failed, or broke before the answer came (the
 * request may or may not have been taken). Names the address and the setting it came from:
 * fetch's own "fetch failed: connect ECONNREFUSED" said neither.
 */
export class TrackerUnreachableError extends DandelionError {
  override name = 'TrackerUnreachableError'
  constructor(url: string, err: TypeError) {
    const cause = err.cause as (Error & { code?: string; errors?: Error[] }) | undefined
    // a name resolving to several addresses fails with an AggregateError, its message empty
    const why = cause?.message || cause?.errors?.[0]?.message || cause?.code || err.message
    super(`cannot reach the tracker at ${url} (${TRACKER_SETTING}): ${why}`, 'ERR_TRACKER_UNREACHABLE', {
      cause: cause ?? err,
    })
  }
}

/**
 * Tries of a request whose answer was lost (a create with the same idempotency key, an
 * advance from the same stage), and the first delay between them.
 */
const REQUEST_TRIES = 4
const RETRY_DELAY_MS = 500

/** fetch's failure to connect or to read an answer: the request may or may not have been taken. */
const isNetworkFailure = (err: unknown): boolean => err instanceof TrackerUnreachableError

/**
 * Runs `attempt` (given its try number, from 1) up to {@link REQUEST_TRIES} times while it
 * fails with an error `retriable` accepts, with backoff; `what` names it on stderr.
 */
async function withRetries<T>(
  what: string,
  retriable: (err: unknown) => boolean,
  attempt: (n: number) => Promise<T>,
): Promise<T> {
  for (let n = 1; ; n++) {
    try {
      return await attempt(n)
    } catch (err) {
      if (!retriable(err) || n >= REQUEST_TRIES) throw err
      process.stderr.write(`${what}: ${(err as Error).message}; retrying\n`)
      await new Promise((r) => setTimeout(r, RETRY_DELAY_MS * 2 ** (n - 1)))
    }
  }
}

/**
 * Creates a release, trying again with the same `Idempotency-Key` when the request may
 * have reached the tracker but its answer did not come back (a refused or dropped
 * connection), or when that first try is still being committed: the tracker answers a
 * retry with the release the first try created, never with a second rollout.
 */
export async function createRelease(
  base: string,
  token: string,
  body: unknown,
  key: string,
): Promise<unknown> {
  return withRetries(
    'release create (with the same idempotency key)',
    (err) => (err instanceof ApiError ? err.code === 'ERR_IDEMPOTENCY_KEY_IN_USE' : isNetworkFailure(err)),
    () =>
      call(base, token, 'POST', '/releases', body, {
        // the draft's quoted form, escaping what a structured-field string escapes
        'idempotency-key': `"${key.replace(/[\\"]/g, '\\$&')}"`,
      }),
  )
}

/** The fields of a release the CLI reads. */
interface ReleaseView {
  id: string
  status: string
  stage: number
  stages: unknown[]
}

/**
 * Advances a release from stage index `from` (as `release.stage` counts), or from the one
 * it is at now, read first. The tracker refuses an advance whose `from` is no longer the
 * release's stage (`ERR_STAGE_MISMATCH`), so the request is retried as it is when its
 * answer was lost: should the lost try have been taken, the retry is refused rather than
 * skipping the next stage and its gate, and the release, found one stage on, is shown.
 * `path` is the release's, `/releases/<id>`.
 */
export async function advanceRelease(
  base: string,
  token: string,
  path: string,
  from?: number,
): Promise<unknown> {
  const seen = from ?? ((await call(base, token, 'GET', path)) as { release: ReleaseView }).release.stage
  process.stderr.write(`release advance: from stage ${seen + 1}\n`)
  return withRetries('release advance (from the same stage)', isNetworkFailure, async (n) => {
    try {
      return await call(base, token, 'POST', `${path}/advance`, { from: seen })
    } catch (err) {
      if (n === 1 || !(err instanceof ApiError) || err.code !== 'ERR_STAGE_MISMATCH') throw err
      // a retry refused: the release moved on since the first try. One stage on, it is where
      // that try (or another advance from the same stage) took it: the advance asked for
      // happened, once
      const now = ((await call(base, token, 'GET', path)) as { release: ReleaseView }).release
      if (now.stage !== seen + 1) throw err
      process.stderr.write(
        `release advance: an earlier try (or another advance from stage ${seen + 1}) advanced it already\n`,
      )
      return now
    }
  })
}

/**
 * The admin API's base URL from `--tracker` (or its default), refused unless it is an
 * http(s) URL: fetch cannot send to another one, and its TypeError would be taken for a
 * network failure (and a create retried as one). The channel's `ws://…/channel` is the
 * likely mistake.
 */
export function apiBase(tracker: string): string {
  const base = tracker.replace(/\/$/, '')
  const url = URL.canParse(`${base}/api/v1/releases`) ? new URL(base) : undefined
  if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:'))
    throw new InvalidConfigError(
      `--tracker ${tracker} is not the tracker's http(s) URL: give the "url" it prints, not its "channelUrl" (${TRACKER_SETTING})`,
    )
  return base
}
