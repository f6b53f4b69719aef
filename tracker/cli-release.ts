/**
 * `dandelion release create|list|status|pause|resume|advance|abort|rollback ...`: the
 * operator's client of the admin API (`--tracker <url> --token <t>`, or
 * `DANDELION_TRACKER_URL` / `DANDELION_ADMIN_TOKEN`). Its flags are read and checked in
 * `cli-release-args.ts`; a usage error exits 2 (see `runCommand` in `node/cli-main.ts`).
 */
import { randomUUID } from 'node:crypto'
import { parseArgs } from 'node:util'
import { DandelionError, InvalidConfigError } from '../node/errors.ts'
import { advanceFrom, createReleaseBody } from './cli-release-args.ts'
import { isIdempotencyKey, MAX_IDEMPOTENCY_KEY_LENGTH } from './rollout/idempotency.ts'

const out = (s: string): void => {
  process.stdout.write(s + '\n')
}

/** Where the tracker's address comes from, as the refusals name it. */
const TRACKER_SETTING = '--tracker / DANDELION_TRACKER_URL'

const RELEASE_USAGE = `Usage: dandelion release <command> [options]   (--tracker <url> --token <t> or DANDELION_TRACKER_URL / DANDELION_ADMIN_TOKEN)
  create --resource <name> --version <n> [--cities a,b] [--campuses a,b] [--labels a,b] [--nodes a,b]
         [--stages 5,50,100] [--gate auto|manual] [--ratio 0.95] [--ab-version <n> --ab-percent <p>]
         [--activate-at <ISO time>] [--outcome-timeout <30m|6h|…>] [--idempotency-key <k>]
         (at least one of --cities, --campuses, --labels, --nodes. Sent as Idempotency-Key, a new
         UUID unless given: a retried create never starts a second rollout; pass the same key when
         re-running a create whose outcome you did not see. --outcome-timeout: how long a node
         has, from its ACK, to report before it counts as failed (timeout); 24h unless given)
  list
  status <id> [--json]
  advance <id> [--from <n>]
         (issues the next stage whatever its gate, from stage n as status shows it, "stage n/N";
         without --from, from the stage the release is at now, read first; either is sent along,
         so a retried request never skips a stage: refused if the release has moved on)
  pause | resume | abort | rollback <id>
  -h, --help   this help (also after a command)`

/** The commands about one release, with their arguments as a missing id names them. */
const ONE_RELEASE: Record<string, string> = {
  status: 'status <id> [--json]',
  advance: 'advance <id> [--from <n>]',
  pause: 'pause <id>',
  resume: 'resume <id>',
  abort: 'abort <id>',
  rollback: 'rollback <id>',
}

/** Calls the admin API; throws with the API's error code on failure. */
async function call(
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
async function createRelease(base: string, token: string, body: unknown, key: string): Promise<unknown> {
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
async function advanceRelease(base: string, token: string, path: string, from?: number): Promise<unknown> {
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

/** Prints a release status as a small table. */
function printStatus(s: {
  release: {
    id: string
    status: string
    stage: number
    resource: string
    version: number
    result?: { outcome: string; active: number; failed: number; timedOut: number; withdrawn?: number }
  }
  counts: Record<string, number>
  stages: Array<{
    stage: number
    percent: number
    gate: string
    nodes: number
    counts: Record<string, number>
  }>
  cities: Record<string, Record<string, number>>
  timedOut?: number
  late?: number
  bytes: { peers: number; origin: number }
  compacted?: { at: number; nodes: number }
}): void {
  const r = s.release
  // a completed release says how its nodes ended: `completed` alone reads as a success
  const res = r.result
  const ended =
    res === undefined
      ? ''
      : ` (${res.outcome}: ${res.active} active, ${res.failed} failed` +
        `${res.timedOut > 0 ? `, ${res.timedOut} of them timed out` : ''}` +
        `${(res.withdrawn ?? 0) > 0 ? `, ${res.withdrawn} withdrawn` : ''})`
  out(
    `release ${r.id}  ${r.resource} v${r.version}  ${r.status}${ended}  stage ${r.stage + 1}/${s.stages.length}`,
  )
  const cols = ['pending', 'fetching', 'placed', 'active', 'failed', 'reverted', 'withdrawn']
  // each column one wider than its longest heading (`withdrawn`)
  const row = (label: string, c: Record<string, number>): string =>
    label.padEnd(16) + cols.map((k) => String(c[k] ?? 0).padStart(10)).join('')
  out(''.padEnd(16) + cols.map((k) => k.padStart(10)).join(''))
  for (const st of s.stages) out(row(`stage ${st.stage + 1} ${st.percent}%`, st.counts))
  for (const [city, c] of Object.entries(s.cities)) out(row(`city ${city}`, c))
  out(row('total', s.counts))
  if ((s.timedOut ?? 0) > 0 || (s.late ?? 0) > 0)
    out(
      `outcome deadline passed: ${s.timedOut ?? 0} node(s) counted failed (timeout), ${s.late ?? 0} reported late`,
    )
  out(`bytes from peers ${s.bytes.peers}, from origin ${s.bytes.origin}`)
  if (s.compacted !== undefined)
    out(
      `compacted ${new Date(s.compacted.at).toISOString()}: the states of ${s.compacted.nodes} node(s) are kept as counts only (no rollback; cities count only nodes that joined since)`,
    )
}

/**
 * The admin API's base URL from `--tracker` (or its default), refused unless it is an
 * http(s) URL: fetch cannot send to another one, and its TypeError would be taken for a
 * network failure (and a create retried as one). The channel's `ws://…/channel` is the
 * likely mistake.
 */
function apiBase(tracker: string): string {
  const base = tracker.replace(/\/$/, '')
  const url = URL.canParse(`${base}/api/v1/releases`) ? new URL(base) : undefined
  if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:'))
    throw new InvalidConfigError(
      `--tracker ${tracker} is not the tracker's http(s) URL: give the "url" it prints, not its "channelUrl" (${TRACKER_SETTING})`,
    )
  return base
}

/** `dandelion release <sub> ...`. Returns the process exit code. */
export async function runReleaseCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv
  if (
    sub === undefined ||
    sub === '--help' ||
    sub === '-h' ||
    rest.includes('--help') ||
    rest.includes('-h')
  ) {
    out(RELEASE_USAGE)
    return 0
  }
  const { values, positionals } = parseArgs({
    args: rest,
    strict: true,
    allowPositionals: true,
    options: {
      tracker: { type: 'string', default: process.env.DANDELION_TRACKER_URL ?? 'http://127.0.0.1:7070' },
      token: { type: 'string' },
      resource: { type: 'string' },
      version: { type: 'string' },
      cities: { type: 'string' },
      campuses: { type: 'string' },
      labels: { type: 'string' },
      nodes: { type: 'string' },
      stages: { type: 'string', default: '100' },
      gate: { type: 'string', default: 'auto' },
      ratio: { type: 'string' },
      'ab-version': { type: 'string' },
      'ab-percent': { type: 'string' },
      'activate-at': { type: 'string' },
      'idempotency-key': { type: 'string' },
      'outcome-timeout': { type: 'string' },
      from: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  })
  const token = values.token ?? process.env.DANDELION_ADMIN_TOKEN
  if (token === undefined) throw new InvalidConfigError('--token or DANDELION_ADMIN_TOKEN required')
  const show = (v: unknown): void => out(JSON.stringify(v, null, 2))
  // a command about one release needs its id: without it, `status` asked for /releases/undefined
  const id = positionals[0]
  if (Object.hasOwn(ONE_RELEASE, sub) && id === undefined)
    throw new InvalidConfigError(
      `missing release id (create and list print it): dandelion release ${ONE_RELEASE[sub]}`,
    )
  const path = `/releases/${encodeURIComponent(id ?? '')}`
  switch (sub) {
    case 'create': {
      const body = createReleaseBody(values)
      const key = values['idempotency-key'] ?? randomUUID()
      // checked here, not left to the tracker: a key or address fetch cannot even send fails
      // with the TypeError of a network failure, and would be retried as one
      if (!isIdempotencyKey(key))
        throw new InvalidConfigError(
          `--idempotency-key must be 1 to ${MAX_IDEMPOTENCY_KEY_LENGTH} visible ASCII characters without spaces`,
        )
      const base = apiBase(values.tracker)
      // through JSON: the fields left undefined are not sent
      show(await createRelease(base, token, JSON.parse(JSON.stringify(body)), key))
      return 0
    }
    case 'list':
      show(await call(apiBase(values.tracker), token, 'GET', '/releases'))
      return 0
    case 'status': {
      const s = await call(apiBase(values.tracker), token, 'GET', path)
      if (values.json) show(s)
      else printStatus(s as Parameters<typeof printStatus>[0])
      return 0
    }
    case 'advance': {
      const from = values.from === undefined ? undefined : advanceFrom(values.from)
      show(await advanceRelease(apiBase(values.tracker), token, path, from))
      return 0
    }
    case 'pause':
    case 'resume':
    case 'abort':
    case 'rollback':
      show(await call(apiBase(values.tracker), token, 'POST', `${path}/${sub}`))
      return 0
    default:
      out(RELEASE_USAGE)
      return 2
  }
}
