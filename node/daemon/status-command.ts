/**
 * `dandelion status [--node URL] [--json]`: what a running node daemon holds and does, read
 * from its local API (`GET /status`, no token needed) and printed for the operator at the
 * machine: its identity and campus, peers, origin health, store, rates, and each content's
 * progress with bytes by source. `--json` prints the daemon's answer as it is.
 */
import { parseArgs } from 'node:util'
import type { NodeStatus } from '../index.ts'
import type { CommandIo } from './cli.ts'
import { call, checkAnswer, NODE_API_OPTIONS, nodeApi, UsageError } from './node-api-client.ts'

export const STATUS_HELP = `usage: dandelion status [--node URL] [--json]

Shows what the node daemon at URL (its local API; DANDELION_NODE_URL, default
http://127.0.0.1:8090) holds and does: its PeerId, role and campus, peers, its origin's health,
its store, its rates, the addresses other nodes and lamps dial, and each content's progress with the bytes it got from peers and from the
origin. --json prints the daemon's GET /status answer as it is. Fails (exit 1) if the daemon
cannot be reached.
`

const MiB = 1024 * 1024

/** Bytes as MiB with one decimal. */
const mib = (bytes: number): string => `${(bytes / MiB).toFixed(1)} MiB`

/** A rate, or `none` for an unlimited one (`Infinity`, sent as `null` in JSON). */
const rate = (bytesPerSecond: number | null): string =>
  bytesPerSecond === null || !Number.isFinite(bytesPerSecond) ? 'none' : `${mib(bytesPerSecond)}/s`

const isLoopback = (addr: string): boolean => addr.startsWith('/ip4/127.') || addr.startsWith('/ip6/::1/')

/** The addresses other machines can dial: loopback ones only when there is nothing else. */
function reachableAddresses(multiaddrs: readonly string[]): string[] {
  const lan = multiaddrs.filter((a) => !isLoopback(a))
  return lan.length > 0 ? lan : [...multiaddrs]
}

const iso = (ms: number | undefined): string => (ms === undefined ? 'never' : new Date(ms).toISOString())

/** The origin rate's schedule, when the node has one: the window in force and the next change. */
function scheduleText(schedule: NodeStatus['originSchedule']): string {
  if (schedule === undefined) return ''
  const now = schedule.window === undefined ? 'outside its windows' : `window "${schedule.window}"`
  const until = schedule.nextChangeAt === undefined ? '' : ` until ${iso(schedule.nextChangeAt)}`
  return ` (schedule: ${now}${until})`
}

/** Scrubbing of the store, when the node scrubs. */
function scrubLines(scrub: NodeStatus['scrub']): string[] {
  if (scrub === undefined) return []
  const unreadable =
    scrub.readErrors > 0 ? `, ${scrub.readErrors} UNREADABLE (I/O errors: a failing disk?)` : ''
  const found = `${scrub.chunksChecked} chunks checked, ${scrub.corruptFound} corrupt (dropped and fetched again)${unreadable}`
  if (scrub.running) return [`scrub: running, ${found} so far`]
  const next = scrub.nextPassAt === undefined ? 'only when asked (POST /scrub)' : iso(scrub.nextPassAt)
  return [`scrub: last pass ended ${iso(scrub.lastPassEndedAt)} (${found}); next ${next}`]
}

/** The status as lines for a terminal. */
export function statusLines(s: NodeStatus): string[] {
  const where = [s.campus, s.city].filter((x) => x !== undefined).join(' / ') || 'no campus'
  const by =
    s.membership === undefined
      ? ''
      : ` (tracker's statement, until ${new Date(s.membership.expiresAt).toISOString()})`
  const origin =
    s.origin === undefined
      ? 'none'
      : s.origin.consecutiveFailures === 0
        ? `${s.origin.url} (ok)`
        : `${s.origin.url} (failing: ${s.origin.consecutiveFailures} failures in a row)`
  const quota =
    (s.store.quotaBytes === null || !Number.isFinite(s.store.quotaBytes)
      ? 'no quota'
      : `quota ${mib(s.store.quotaBytes)}`) +
    (s.store.limitBytes === undefined
      ? ''
      : `, at most ${mib(s.store.limitBytes)} by the disk's free-space floor`)
  const lines = [
    `node ${s.peerId}  ${s.role}  ${where}${by}`,
    `peers: ${s.connections} connected, ${s.bannedPeers} banned; origin ${origin}`,
    `store: ${mib(s.store.bytes)} in ${s.store.chunks} chunks (${quota}, ${mib(s.store.pinnedBytes)} pinned)`,
    ...scrubLines(s.scrub),
    `rates: upload ${rate(s.limits.uploadBytesPerSecond)}, download ${rate(s.limits.downloadBytesPerSecond)}, origin ${rate(s.limits.originBytesPerSecond)}${scheduleText(s.originSchedule)}`,
  ]
  const addresses = reachableAddresses(s.multiaddrs)
  if (addresses.length === 0) lines.push('addresses: none (not listening)')
  else {
    lines.push(
      'addresses (give one to other nodes as --bootstrap; lamps with --webrtc a /webrtc-direct one):',
    )
    for (const a of addresses) lines.push(`  ${a}`)
  }
  if (s.playbackUrl !== undefined)
    lines.push(`playback: ${s.playbackUrl}/content/<manifest CID or by-name/<name>>`)
  if (s.swarms.length === 0) lines.push('content: none')
  else {
    lines.push('content:')
    for (const w of s.swarms) {
      const pct = w.bytesTotal === 0 ? 100 : Math.floor((100 * w.bytesDone) / w.bytesTotal)
      const state = w.error !== undefined ? `stopped: ${w.error}` : w.complete ? 'complete' : 'downloading'
      lines.push(
        `  ${(w.name ?? '-').padEnd(16)} ${w.manifestCid.slice(0, 12)}…${w.manifestCid.slice(-6)}  ${String(pct).padStart(3)}% of ${mib(w.bytesTotal)}  ` +
          `${w.peers.length} peer(s)  from peers ${mib(w.bytesFromPeers)}, from origin ${mib(w.bytesFromOrigin)}  ${state}`,
      )
    }
  }
  const t = s.totals
  lines.push(
    `totals: from peers ${mib(t.bytesFromPeers)}, from origin ${mib(t.bytesFromOrigin)}, uploaded ${mib(t.bytesUploaded)}; corrupt chunks refused ${t.corruptChunks}`,
  )
  return lines
}

/** Prints a running daemon's status. */
export async function runStatusCommand(argv: string[], io: CommandIo = {}): Promise<void> {
  const out = io.stdout ?? ((l: string) => process.stdout.write(`${l}\n`))
  const { values, positionals } = parseArgs({
    args: argv,
    options: { json: { type: 'boolean', default: false }, ...NODE_API_OPTIONS },
    allowPositionals: true,
    strict: true,
  })
  if (values.help === true || positionals.length > 0) {
    out(STATUS_HELP)
    if (values.help !== true) throw new UsageError(`unexpected argument ${positionals[0]}`)
    return
  }
  // no token: the status is the daemon's public read
  const api = await nodeApi({ node: values.node }, io.env ?? process.env)
  const res = await call(api.base, '/status', { signal: io.signal })
  await checkAnswer(res, api)
  const status = (await res.json()) as NodeStatus
  if (values.json) out(JSON.stringify(status, null, 2))
  else for (const l of statusLines(status)) out(l)
}
