/**
 * Command-line entry points run by `tracker/main.ts` (what `dandelion tracker` and `dandelion release` start):
 * `dandelion tracker [--data-dir d] [--host h] [--port n] [--bootstrap-listen /ip4/…/tcp/…]` and
 * `dandelion release create|list|status|pause|resume|advance|abort|rollback ...`.
 * Tokens come from flags or `DANDELION_ADMIN_TOKEN` / `DANDELION_ENROLLMENT_TOKEN`.
 */
import { randomUUID } from 'node:crypto'
import { parseArgs } from 'node:util'
import { InvalidConfigError } from '../node/errors.ts'
import { createTracker, type Tracker } from './index.ts'
import { isIdempotencyKey, MAX_IDEMPOTENCY_KEY_LENGTH } from './rollout/idempotency.ts'

const out = (s: string): void => {
  process.stdout.write(s + '\n')
}

/**
 * Starts a tracker and prints one JSON line `{ url, channelUrl }` on stdout. Closes on
 * SIGINT/SIGTERM. Returns the running tracker.
 */
export async function runTrackerCommand(argv: string[]): Promise<Tracker | undefined> {
  if (argv.includes('--help') || argv.includes('-h')) {
    out(TRACKER_USAGE)
    return undefined
  }
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      'data-dir': { type: 'string', default: './data/tracker' },
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '7070' },
      'admin-token': { type: 'string' },
      'enrollment-token': { type: 'string' },
      'retransmit-ms': { type: 'string' },
      /** libp2p listen address of the DHT bootstrap host (repeatable); none = no host. */
      'bootstrap-listen': { type: 'string', multiple: true },
    },
  })
  const adminToken = values['admin-token'] ?? process.env.DANDELION_ADMIN_TOKEN
  const enrollmentToken = values['enrollment-token'] ?? process.env.DANDELION_ENROLLMENT_TOKEN
  if (adminToken === undefined || enrollmentToken === undefined)
    throw new InvalidConfigError('admin and enrollment tokens are required (flags or DANDELION_* env)')
  const port = Number(values.port)
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new InvalidConfigError(`bad port ${values.port}`)
  const tracker = await createTracker({
    dataDir: values['data-dir'],
    host: values.host,
    port,
    adminToken,
    enrollmentToken,
    retransmitInitialMs: values['retransmit-ms'] === undefined ? undefined : Number(values['retransmit-ms']),
    bootstrap: values['bootstrap-listen'] === undefined ? false : { listen: values['bootstrap-listen'] },
  })
  out(
    JSON.stringify({
      url: tracker.url,
      channelUrl: tracker.channelUrl,
      trackerId: tracker.trackerId,
      bootstrap: tracker.bootstrapAddrs,
    }),
  )
  const stop = (): void => {
    tracker.close().then(
      () => process.exit(0),
      () => process.exit(1),
    )
  }
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
  return tracker
}

const TRACKER_USAGE = `Usage: dandelion tracker [options]
  --data-dir <dir>            state (level) and the tracker's key         [./data/tracker]
  --host <host>                                                          [127.0.0.1]
  --port <port>               0 = any free port                          [7070]
  --admin-token <t>           or DANDELION_ADMIN_TOKEN (bearer of /api/v1)
  --enrollment-token <t>      or DANDELION_ENROLLMENT_TOKEN (node enrollment)
  --retransmit-ms <ms>        first retransmit delay of an unACKed command [5000]
  --bootstrap-listen <maddr>  run a libp2p DHT bootstrap host (repeatable)
Prints {"url","channelUrl","trackerId","bootstrap"} as one JSON line once listening;
trackerId is the key nodes obey (dandelion node --tracker-id), kept in <data-dir>/tracker.key.
Run it with --max-semi-space-size=1 (see tracker/README.md).`

const RELEASE_USAGE = `Usage: dandelion release <command> [options]   (--tracker <url> --token <t> or DANDELION_TRACKER_URL / DANDELION_ADMIN_TOKEN)
  create --resource <name> --version <n> [--cities a,b] [--campuses a,b] [--labels a,b] [--nodes a,b]
         [--stages 5,50,100] [--gate auto|manual] [--ratio 0.95] [--ab-version <n> --ab-percent <p>]
         [--activate-at <ISO time>] [--outcome-timeout <30m|6h|…>] [--idempotency-key <k>]
         (sent as Idempotency-Key, a new UUID unless given: a retried create never starts a second
         rollout; pass the same key when re-running a create whose outcome you did not see.
         --outcome-timeout: how long a node has, from its ACK, to report before it counts as
         failed (timeout); 24h unless given)
  list
  status <id> [--json]
  advance <id> [--from <n>]
         (issues the next stage whatever its gate, from stage n as status shows it, "stage n/N";
         without --from, from the stage the release is at now, read first; either is sent along,
         so a retried request never skips a stage: refused if the release has moved on)
  pause | resume | abort | rollback <id>`

const list = (v: string | undefined): string[] | undefined =>
  v === undefined
    ? undefined
    : v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)

/** Calls the admin API; throws with the API's error code on failure. */
async function call(
  base: string,
  token: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<unknown> {
  const res = await fetch(`${base}/api/v1${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...headers,
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
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
 * Tries of a request whose answer was lost (a create with the same idempotency key, an
 * advance from the same stage), and the first delay between them.
 */
const REQUEST_TRIES = 4
const RETRY_DELAY_MS = 500

/** fetch's failure to connect or to read an answer: the request may or may not have been taken. */
const isNetworkFailure = (err: unknown): boolean => err instanceof TypeError

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
 */
async function advanceRelease(base: string, token: string, id: string, from?: number): Promise<unknown> {
  const path = `/releases/${encodeURIComponent(id)}`
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
 * Milliseconds of a duration such as `500ms`, `90s`, `30m` or `6h` (a bare number is
 * milliseconds); undefined if it is not one.
 */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$/.exec(text.trim())
  if (m === null) return undefined
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[(m[2] ?? 'ms') as 'ms']
  const ms = Math.round(Number(m[1]) * unit)
  return Number.isSafeInteger(ms) && ms > 0 ? ms : undefined
}

/** Prints a release status as a small table. */
function printStatus(s: {
  release: {
    id: string
    status: string
    stage: number
    resource: string
    version: number
    result?: { outcome: string; active: number; failed: number; timedOut: number }
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
}): void {
  const r = s.release
  // a completed release says how its nodes ended: `completed` alone reads as a success
  const res = r.result
  const ended =
    res === undefined
      ? ''
      : ` (${res.outcome}: ${res.active} active, ${res.failed} failed` +
        `${res.timedOut > 0 ? `, ${res.timedOut} of them timed out` : ''})`
  out(
    `release ${r.id}  ${r.resource} v${r.version}  ${r.status}${ended}  stage ${r.stage + 1}/${s.stages.length}`,
  )
  const cols = ['pending', 'fetching', 'placed', 'active', 'failed', 'reverted']
  const row = (label: string, c: Record<string, number>): string =>
    label.padEnd(16) + cols.map((k) => String(c[k] ?? 0).padStart(9)).join('')
  out(''.padEnd(16) + cols.map((k) => k.padStart(9)).join(''))
  for (const st of s.stages) out(row(`stage ${st.stage + 1} ${st.percent}%`, st.counts))
  for (const [city, c] of Object.entries(s.cities)) out(row(`city ${city}`, c))
  out(row('total', s.counts))
  if ((s.timedOut ?? 0) > 0 || (s.late ?? 0) > 0)
    out(
      `outcome deadline passed: ${s.timedOut ?? 0} node(s) counted failed (timeout), ${s.late ?? 0} reported late`,
    )
  out(`bytes from peers ${s.bytes.peers}, from origin ${s.bytes.origin}`)
}

/** `dandelion release <sub> ...`. Returns the process exit code. */
export async function runReleaseCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv
  if (sub === undefined || sub === '--help' || sub === '-h' || rest.includes('--help')) {
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
  const base = values.tracker.replace(/\/$/, '')
  const show = (v: unknown): void => out(JSON.stringify(v, null, 2))
  switch (sub) {
    case 'create': {
      if (values.resource === undefined || values.version === undefined)
        throw new InvalidConfigError('--resource and --version required')
      const percents = list(values.stages)!.map(Number)
      const outcomeTimeout =
        values['outcome-timeout'] === undefined ? undefined : parseDuration(values['outcome-timeout'])
      if (values['outcome-timeout'] !== undefined && outcomeTimeout === undefined)
        throw new InvalidConfigError(
          `--outcome-timeout ${values['outcome-timeout']}: a duration such as 90m, 6h or 2d`,
        )
      const body = {
        resource: values.resource,
        version: Number(values.version),
        targets: {
          cities: list(values.cities),
          campuses: list(values.campuses),
          labels: list(values.labels),
          nodes: list(values.nodes),
        },
        stages: percents.map((percent) => ({
          percent,
          gate: values.gate,
          successRatio: values.ratio === undefined ? undefined : Number(values.ratio),
        })),
        ab:
          values['ab-version'] === undefined
            ? undefined
            : { version: Number(values['ab-version']), percent: Number(values['ab-percent'] ?? 50) },
        activateAt: values['activate-at'] === undefined ? undefined : Date.parse(values['activate-at']),
        outcomeTimeoutMs: outcomeTimeout,
      }
      const key = values['idempotency-key'] ?? randomUUID()
      // checked here, not left to the tracker: a key or address fetch cannot even send fails
      // with the TypeError of a network failure, and would be retried as one
      if (!isIdempotencyKey(key))
        throw new InvalidConfigError(
          `--idempotency-key must be 1 to ${MAX_IDEMPOTENCY_KEY_LENGTH} visible ASCII characters without spaces`,
        )
      if (!URL.canParse(`${base}/api/v1/releases`))
        throw new InvalidConfigError(`--tracker ${values.tracker} is not a URL`)
      show(await createRelease(base, token, JSON.parse(JSON.stringify(body)), key))
      return 0
    }
    case 'list':
      show(await call(base, token, 'GET', '/releases'))
      return 0
    case 'status': {
      const s = await call(base, token, 'GET', `/releases/${positionals[0]}`)
      if (values.json) show(s)
      else printStatus(s as Parameters<typeof printStatus>[0])
      return 0
    }
    case 'advance': {
      if (positionals[0] === undefined) throw new InvalidConfigError('release advance <id> [--from <n>]')
      let from: number | undefined
      if (values.from !== undefined) {
        from = Number(values.from) - 1
        if (!Number.isInteger(from) || from < 0)
          throw new InvalidConfigError(`--from ${values.from}: a stage number as status shows it (stage n/N)`)
      }
      if (!URL.canParse(`${base}/api/v1/releases`))
        throw new InvalidConfigError(`--tracker ${values.tracker} is not a URL`)
      show(await advanceRelease(base, token, positionals[0], from))
      return 0
    }
    case 'pause':
    case 'resume':
    case 'abort':
    case 'rollback':
      if (positionals[0] === undefined) throw new InvalidConfigError(`release ${sub} <id>`)
      show(await call(base, token, 'POST', `/releases/${positionals[0]}/${sub}`))
      return 0
    default:
      out(RELEASE_USAGE)
      return 2
  }
}
