/**
 * `dandelion release create|list|status|pause|resume|advance|abort|rollback|compact ...`: the
 * operator's client of the admin API (`--tracker <url> --token <t>`, or
 * `DANDELION_TRACKER_URL` / `DANDELION_ADMIN_TOKEN`). Its flags are read and checked in
 * `cli-release-args.ts`, its requests sent (and retried when safe) by `cli-release-client.ts`;
 * a usage error exits 2 (see `runCommand` in `node/cli-main.ts`).
 */
import { randomUUID } from 'node:crypto'
import { parseArgs } from 'node:util'
import { InvalidConfigError } from '../node/errors.ts'
import { ADMIN_CLIENT_OPTIONS, adminTokenOf, wantsHelp } from './cli-admin.ts'
import { advanceFrom, createReleaseBody } from './cli-release-args.ts'
import { advanceRelease, apiBase, call, createRelease } from './cli-release-client.ts'
import { isIdempotencyKey, MAX_IDEMPOTENCY_KEY_LENGTH } from './rollout/idempotency.ts'

export { TrackerUnreachableError } from './cli-release-client.ts'

const out = (s: string): void => {
  process.stdout.write(s + '\n')
}

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
  compact <id>   (a finished release, now rather than after --release-retention: it can no
                 longer be rolled back, and the version it replaced may then be removed)
  -h, --help   this help (also after a command)`

/** The commands about one release, with their arguments as a missing id names them. */
const ONE_RELEASE: Record<string, string> = {
  status: 'status <id> [--json]',
  advance: 'advance <id> [--from <n>]',
  pause: 'pause <id>',
  resume: 'resume <id>',
  abort: 'abort <id>',
  rollback: 'rollback <id>',
  compact: 'compact <id>',
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
    compacted?: { cities?: object }
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
  /** `held` is absent from a tracker before partial compaction. */
  compacted?: { at: number; nodes: number; held?: number }
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
  if (s.compacted !== undefined) {
    // compacted before the counts per city were kept: its cities count only those since
    const cities =
      s.release.compacted?.cities === undefined ? '; cities count only nodes that joined since' : ''
    // nodes it still holds one by one: a command still out or queued, a late member since
    const held = (s.compacted.held ?? 0) > 0 ? `; ${s.compacted.held} node(s) still held one by one` : ''
    out(
      `compacted ${new Date(s.compacted.at).toISOString()}: the states of ${s.compacted.nodes} node(s) are kept as counts only (no rollback${cities})${held}`,
    )
  }
}

/** `dandelion release <sub> ...`. Returns the process exit code. */
export async function runReleaseCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv
  if (wantsHelp(sub, rest)) {
    out(RELEASE_USAGE)
    return 0
  }
  const { values, positionals } = parseArgs({
    args: rest,
    strict: true,
    allowPositionals: true,
    options: {
      ...ADMIN_CLIENT_OPTIONS,
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
  const token = adminTokenOf(values)
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
    case 'compact':
      show(await call(apiBase(values.tracker), token, 'POST', `${path}/${sub}`))
      return 0
    default:
      out(RELEASE_USAGE)
      return 2
  }
}
