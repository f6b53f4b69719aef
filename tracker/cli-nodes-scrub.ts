/**
 * `dandelion nodes scrub <node-id>... | --campus <id> | --city <id> [--wait]`: asks nodes to
 * scrub their on-disk stores now, through the tracker (`POST /api/v1/scrubs`: a `scrub`
 * command to each, over the command channel, since a campus node's own API is behind its
 * school's NAT), and prints each node's scrub record; with `--wait`, polls until every one
 * has ended and prints what each pass found, or why it failed. Needs the admin token or an
 * admin operator's. Exit code 1 if a scrub failed.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { parseArgs } from 'node:util'
import { InvalidConfigError } from '../node/errors.ts'
import { ADMIN_CLIENT_OPTIONS, adminTokenOf } from './cli-admin.ts'
import { apiBase, call } from './cli-release-client.ts'

const out = (s: string): void => {
  process.stdout.write(s + '\n')
}

/** Time between two looks at the scrubs' records with `--wait`. */
export const SCRUB_POLL_MS = 1_000

export const NODES_SCRUB_USAGE = `  scrub <node-id>... | --campus <id>... | --city <id>... [--wait] [--timeout <s>] [--json]
       ask nodes to scrub their on-disk stores now (a scrub command through the tracker;
       admin token): each node's scrub, queued; --wait: until each has ended, then what its
       pass found (chunks checked, corrupt, unreadable) or why it failed (exit code 1)`

/** A node's scrub record, as the API answers it (`state/scrubs.ts`). */
interface ScrubRow {
  nodeId: string
  cmdId: string
  state: 'queued' | 'received' | 'done' | 'failed'
  reason?: string
  found?: { chunksChecked: number; corruptFound: number; readErrors: number }
}

/** One line per node: its id, where its scrub is, and what it found or why it failed. */
export function scrubLines(rows: ScrubRow[]): string[] {
  if (rows.length === 0) return ['no nodes']
  return rows.map((r) => `${r.nodeId.padEnd(20)} ${r.state.padEnd(9)} ${r.reason ?? ''}`.trimEnd())
}

const ended = (r: ScrubRow): boolean => r.state === 'done' || r.state === 'failed'

/** `dandelion nodes scrub ...` (`args` after `scrub`). Returns the process exit code. */
export async function runNodesScrub(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    strict: true,
    allowPositionals: true,
    options: {
      ...ADMIN_CLIENT_OPTIONS,
      campus: { type: 'string', multiple: true },
      city: { type: 'string', multiple: true },
      wait: { type: 'boolean', default: false },
      timeout: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  })
  const body = {
    ...(positionals.length === 0 ? {} : { nodes: [...new Set(positionals)] }),
    ...(values.campus === undefined ? {} : { campuses: [...new Set(values.campus)] }),
    ...(values.city === undefined ? {} : { cities: [...new Set(values.city)] }),
  }
  if (Object.keys(body).length === 0)
    throw new InvalidConfigError('dandelion nodes scrub: name nodes, or --campus or --city')
  const timeoutS = values.timeout === undefined ? undefined : Number(values.timeout)
  if (timeoutS !== undefined && !(Number.isFinite(timeoutS) && timeoutS > 0))
    throw new InvalidConfigError(`--timeout: a number of seconds above 0, not "${values.timeout}"`)
  const base = apiBase(values.tracker)
  const token = adminTokenOf(values)
  let rows = ((await call(base, token, 'POST', '/scrubs', body)) as { scrubs: ScrubRow[] }).scrubs
  if (values.wait) {
    const by = timeoutS === undefined ? Infinity : Date.now() + timeoutS * 1000
    // each node's own command: a newer one asked meanwhile by someone else is not this one
    const asked = new Map(rows.map((r) => [r.nodeId, r.cmdId]))
    while (!rows.every(ended) && Date.now() < by) {
      await sleep(SCRUB_POLL_MS)
      const all = ((await call(base, token, 'GET', '/scrubs')) as { scrubs: ScrubRow[] }).scrubs
      const now = new Map(all.map((r) => [r.nodeId, r]))
      rows = rows.map((r) => {
        const n = now.get(r.nodeId)
        return n !== undefined && n.cmdId === asked.get(r.nodeId) ? n : r
      })
    }
  }
  if (values.json) out(JSON.stringify(rows, null, 2))
  else for (const l of scrubLines(rows)) out(l)
  if (values.wait && !rows.every(ended)) {
    out(`${rows.filter((r) => !ended(r)).length} scrub(s) not ended within ${values.timeout} s`)
    return 1
  }
  return rows.some((r) => r.state === 'failed') ? 1 : 0
}
