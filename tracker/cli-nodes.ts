/**
 * `dandelion nodes [list] [--offline] [--attention] [--campus c] [--city c] [--version v]
 * [--json]`: the tracker's nodes as an operator looks for trouble: which are offline and
 * since when, where they are, what software they run, and under each node that reports it
 * its health (store, disk, scrub, origin) and why it needs attention. Reads `GET
 * /api/v1/nodes` page by page (the viewer token is enough); `--attention` asks it for the
 * nodes needing attention only (`?attention=true`, the rules in `health/attention.ts`).
 * `dandelion nodes scrub` asks nodes to scrub their stores now (`cli-nodes-scrub.ts`).
 */
import { parseArgs } from 'node:util'
import { ADMIN_CLIENT_OPTIONS, adminTokenOf, wantsHelp } from './cli-admin.ts'
import { type HealthRow, healthLine } from './cli-nodes-health.ts'
import { NODES_SCRUB_USAGE, runNodesScrub } from './cli-nodes-scrub.ts'
import { apiBase, call } from './cli-release-client.ts'

const out = (s: string): void => {
  process.stdout.write(s + '\n')
}

export const NODES_USAGE = `Usage: dandelion nodes [options]   (--tracker <url> --token <t> or DANDELION_TRACKER_URL / DANDELION_ADMIN_TOKEN; the viewer token reads too)
  [list] [--offline] [--attention] [--campus <id>] [--city <id>] [--version <v>] [--json]
       every node (or those offline, needing attention, of a campus, of a city, running a
       version): id, city/campus, online or offline since when, its software version, labels;
       under it, its latest health report (store, disk, scrub, origin; ATTENTION: why);
       then how many by version
${NODES_SCRUB_USAGE}
  -h, --help   this help`

/** A node as `GET /nodes` shows it. */
interface NodeRow {
  id: string
  campus?: string
  city?: string
  labels: string[]
  connected: boolean
  lastSeenAt?: number
  version?: string
  peerId?: string
  /** Its latest health report since the tracker started; absent if none. */
  health?: HealthRow
}

/** Every node, all pages. */
async function allNodes(base: string, token: string, attention: boolean): Promise<NodeRow[]> {
  const rows: NodeRow[] = []
  let cursor: string | undefined
  do {
    const q =
      (attention ? '&attention=true' : '') +
      (cursor === undefined ? '' : `&cursor=${encodeURIComponent(cursor)}`)
    const page = (await call(base, token, 'GET', `/nodes?limit=1000${q}`)) as {
      nodes: NodeRow[]
      next?: string
    }
    rows.push(...page.nodes)
    cursor = page.next
  } while (cursor !== undefined)
  return rows
}

/** How long ago `at` was, roughly, for a person. */
function ago(at: number, now: number): string {
  const s = Math.max(0, Math.round((now - at) / 1000))
  if (s < 120) return `${s}s`
  if (s < 7200) return `${Math.round(s / 60)}m`
  if (s < 172_800) return `${Math.round(s / 3600)}h`
  return `${Math.round(s / 86_400)}d`
}

/** One line per node (and its health line, if it reported), then the count by version. */
export function nodeLines(rows: NodeRow[], now = Date.now()): string[] {
  if (rows.length === 0) return ['no nodes']
  const lines = rows.flatMap((n) => {
    const where = `${n.city ?? '-'}/${n.campus ?? '-'}`
    const state = n.connected
      ? 'online'
      : n.peerId === undefined
        ? 'not enrolled'
        : n.lastSeenAt === undefined
          ? 'offline'
          : `offline ${ago(n.lastSeenAt, now)}`
    const line = `${n.id.padEnd(20)} ${where.padEnd(22)} ${state.padEnd(14)} ${(n.version ?? '?').padEnd(10)} ${n.labels.join(',')}`
    return n.health === undefined ? [line] : [line, healthLine(n.health, (at) => ago(at, now))]
  })
  const by = new Map<string, number>()
  for (const n of rows) by.set(n.version ?? 'unknown', (by.get(n.version ?? 'unknown') ?? 0) + 1)
  const online = rows.filter((n) => n.connected).length
  lines.push(
    `${rows.length} node(s), ${online} online; by version: ${[...by].map(([v, c]) => `${v} ${c}`).join(', ')}`,
  )
  return lines
}

/** `dandelion nodes <sub> ...`. Returns the process exit code. */
export async function runNodesCommand(argv: string[]): Promise<number> {
  // `dandelion nodes --attention`: flags alone mean `list`
  const [sub, ...rest] =
    argv[0]?.startsWith('-') === true && !wantsHelp(argv[0], []) ? ['list', ...argv] : argv
  if (wantsHelp(sub, rest)) {
    out(NODES_USAGE)
    return 0
  }
  if (sub === 'scrub') return await runNodesScrub(rest)
  if (sub !== 'list') {
    out(NODES_USAGE)
    return 2
  }
  const { values } = parseArgs({
    args: rest,
    strict: true,
    options: {
      ...ADMIN_CLIENT_OPTIONS,
      offline: { type: 'boolean', default: false },
      attention: { type: 'boolean', default: false },
      campus: { type: 'string' },
      city: { type: 'string' },
      version: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  })
  const rows = (await allNodes(apiBase(values.tracker), adminTokenOf(values), values.attention)).filter(
    (n) =>
      (!values.offline || !n.connected) &&
      (values.campus === undefined || n.campus === values.campus) &&
      (values.city === undefined || n.city === values.city) &&
      (values.version === undefined || n.version === values.version),
  )
  if (values.json) out(JSON.stringify(rows, null, 2))
  else for (const l of nodeLines(rows)) out(l)
  return 0
}
