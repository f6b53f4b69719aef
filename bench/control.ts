/**
 * `npm run bench -- control [nodes=5000] [processes=2]`: one tracker (child process, RSS
 * sampled) and N light nodes speaking the real channel protocol in 1–2 client processes.
 * Release 1 targets every node: time until all ACKed / all active, commands per second.
 * Release 2 targets every node again while 10% of the connections drop on receipt
 * (half before their ACK, half after it) and reconnect: time until all ACKed again.
 * lost = nodes that never applied a release's command; duplicates = a node applying
 * a second command for the same release.
 */
import { type ChildProcess, fork, spawn } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { printTable, sampleRss, writeResults } from './lib/report.ts'

const here = fileURLToPath(new URL('.', import.meta.url))
const NODES = Number(process.argv[2] ?? 5000)
const PROCS = Number(process.argv[3] ?? 2)
const ADMIN = 'bench-admin-token'
const ENROLL = 'bench-enroll-token'
const DROP_PERCENT = 10
/** V8 flags of the tracker process, e.g. `--max-semi-space-size=4` (env TRACKER_NODE_FLAGS). */
/** Extra environment of the tracker process, e.g. `MALLOC_ARENA_MAX=2` (env TRACKER_ENV). */
const TRACKER_ENV = Object.fromEntries(
  (process.env.TRACKER_ENV ?? '')
    .split(' ')
    .filter(Boolean)
    .map((kv) => kv.split('=') as [string, string]),
)
const TRACKER_FLAGS = (process.env.TRACKER_NODE_FLAGS ?? '').split(' ').filter(Boolean)

const dataDir = await mkdtemp(join(tmpdir(), 'bench-control-'))
const tracker = spawn(
  process.execPath,
  [
    join(here, 'control', 'tracker-proc.ts'),
    '--data-dir',
    dataDir,
    '--port',
    '0',
    '--admin-token',
    ADMIN,
    '--enrollment-token',
    ENROLL,
  ],
  { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...TRACKER_ENV } },
)
const { url, channelUrl } = JSON.parse(
  await new Promise<string>((resolve) => createInterface({ input: tracker.stdout! }).once('line', resolve)),
) as { url: string; channelUrl: string }
const rss = sampleRss(tracker.pid!)

// biome-ignore lint/suspicious/noExplicitAny: benchmark helper returning the API's JSON
async function api(method: string, path: string, body?: unknown): Promise<any> {
  const res = await fetch(`${url}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`)
  return res.json()
}

await api('POST', '/cities', { id: 'bench-city', name: 'Bench' })
for (let i = 0; i < 10; i++)
  await api('POST', '/campuses', { id: `campus-${i}`, city: 'bench-city', name: `C${i}` })
for (const v of [1, 2]) {
  await api('POST', '/resources/lesson/versions', {
    version: v,
    manifestCid: `bafy-bench-v${v}`,
    size: 1,
    type: 'video',
  })
  await api('POST', `/resources/lesson/versions/${v}/approve`)
}

const clients: ChildProcess[] = []
// biome-ignore lint/suspicious/noExplicitAny: IPC messages of the client processes
const next = (c: ChildProcess, type: string): Promise<any> =>
  new Promise((resolve) => {
    const on = (m: { type: string }) => {
      if (m.type !== type) return
      c.off('message', on)
      resolve(m)
    }
    c.on('message', on)
  })
const tConnect = performance.now()
const per = Math.ceil(NODES / PROCS)
for (let p = 0; p < PROCS; p++) {
  const count = Math.min(per, NODES - p * per)
  const c = fork(join(here, 'control', 'clients.ts'), [channelUrl, String(count), String(p * per), ENROLL], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  clients.push(c)
}
const ready = await Promise.all(clients.map((c) => next(c, 'ready')))
const rssNow = async (): Promise<number> => {
  const status = await readFile(`/proc/${tracker.pid}/status`, 'utf8')
  return Math.round(Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1]) / 1024)
}
const rssAfterConnect = await rssNow()
const heapAfterConnect = Number(
  /^dandelion_tracker_nodejs_heap_size_used_bytes (\S+)/m.exec(
    await (await fetch(`${url}/metrics`)).text(),
  )?.[1],
)
const connectS = (performance.now() - tConnect) / 1000
const connected = ready.reduce((a, r) => a + r.connected, 0)

/** Creates a release for every node and polls its status until all ACKed, then all active. */
async function rollout(version: number): Promise<{ id: string; ackedS: number; activeS: number }> {
  const t0 = performance.now()
  const rel = await api('POST', '/releases', {
    resource: 'lesson',
    version,
    targets: { cities: ['bench-city'] },
  })
  let ackedS = 0
  for (;;) {
    const s = await api('GET', `/releases/${rel.id}`)
    const now = (performance.now() - t0) / 1000
    if (ackedS === 0 && s.counts.pending === 0 && s.counts.waiting === 0) ackedS = now
    if (s.counts.active === NODES) return { id: rel.id, ackedS: ackedS || now, activeS: now }
    if (now > 120) throw new Error(`release ${version} stuck: ${JSON.stringify(s.counts)}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

const first = await rollout(1)
const rssAfterFirst = await rssNow()
const ask = (type: string, reply: string, extra: object = {}): Promise<unknown[]> =>
  Promise.all(
    clients.map((c) => {
      const answer = next(c, reply)
      c.send({ type, ...extra })
      return answer
    }),
  )
await ask('arm-drop', 'armed', { percent: DROP_PERCENT })
const second = await rollout(2)
// biome-ignore lint/suspicious/noExplicitAny: IPC stats of the client processes
const stats = (await ask('stats', 'stats')) as any[]
const metrics = await (await fetch(`${url}/metrics`)).text()
const metric = (name: string): number =>
  Number(new RegExp(`^${name} (\\S+)`, 'm').exec(metrics)?.[1] ?? Number.NaN)
const heapUsedMb = metric('dandelion_tracker_nodejs_heap_size_used_bytes') / 2 ** 20
const retransmits = metric('dandelion_tracker_commands_retransmitted_total')
const peakRss = rss.stop()
const sum = (k: string): number => stats.reduce((a, s) => a + (s[k] as number), 0)
const appliedOf = (id: string): number => stats.reduce((a, s) => a + (s.perRelease[`${id}:place`] ?? 0), 0)
const lost = NODES - appliedOf(first.id) + (NODES - appliedOf(second.id))

const figures = {
  nodes: NODES,
  client_processes: PROCS,
  tracker_node_flags: TRACKER_FLAGS.join(' ') || '(none)',
  tracker_env: process.env.TRACKER_ENV ?? '(none)',
  connected,
  connect_enroll_s: connectS,
  all_acked_s: first.ackedS,
  all_active_s: first.activeS,
  commands_per_s: NODES / first.ackedS,
  tracker_peak_rss_mb: Math.round(peakRss),
  tracker_rss_after_connect_mb: rssAfterConnect,
  tracker_rss_after_release_1_mb: rssAfterFirst,
  tracker_heap_used_after_connect_mb: Math.round(heapAfterConnect / 2 ** 20),
  tracker_heap_used_end_mb: Math.round(heapUsedMb),
  retransmits,
  lost,
  duplicates: sum('duplicatesApplied'),
  redelivered_deduped: sum('redelivered'),
  dropped_connections: sum('dropped'),
  reconnect_all_acked_s: second.ackedS,
  reconnect_all_active_s: second.activeS,
  target_all_acked_s: 10,
  target_tracker_rss_mb: 300,
}
printTable('control plane: one tracker, light nodes over the real channel protocol', [
  {
    phase: 'release 1 (all connected)',
    nodes: NODES,
    all_acked_s: first.ackedS,
    all_active_s: first.activeS,
  },
  {
    phase: `release 2 (${DROP_PERCENT}% dropped mid-rollout)`,
    nodes: NODES,
    all_acked_s: second.ackedS,
    all_active_s: second.activeS,
  },
])
printTable('totals', [
  {
    commands_per_s: figures.commands_per_s,
    tracker_peak_rss_mb: figures.tracker_peak_rss_mb,
    lost,
    duplicates: figures.duplicates,
    redelivered_deduped: figures.redelivered_deduped,
    dropped: figures.dropped_connections,
  },
])
process.stdout.write(`wrote ${writeResults('control', figures)}\n`)

for (const c of clients) c.send({ type: 'exit' })
tracker.kill('SIGTERM')
await new Promise((r) => tracker.once('exit', r))
await rm(dataDir, { recursive: true, force: true })
