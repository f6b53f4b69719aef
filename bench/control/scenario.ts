/**
 * One run of the control-plane benchmark: a tracker child process (RSS sampled) started
 * with the given V8 flags, N light nodes in client processes, two releases (the second
 * with 10% of the connections dropped mid-rollout).
 */
import { type ChildProcess, fork, spawn } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { sampleRss } from '../lib/report.ts'

const here = fileURLToPath(new URL('.', import.meta.url))
const ADMIN = 'bench-admin-token'
const ENROLL = 'bench-enroll-token'

/** Figures of one run. */
export interface ScenarioFigures {
  connected: number
  connect_enroll_s: number
  all_acked_s: number
  all_active_s: number
  commands_per_s: number
  tracker_peak_rss_mb: number
  tracker_rss_after_connect_mb: number
  tracker_rss_after_release_1_mb: number
  tracker_heap_used_after_connect_mb: number
  retransmits: number
  lost: number
  duplicates: number
  redelivered_deduped: number
  dropped_connections: number
  reconnect_all_acked_s: number
  reconnect_all_active_s: number
}

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

/** Runs the scenario once. */
export async function runScenario(opts: {
  nodes: number
  processes: number
  dropPercent: number
  trackerFlags: string[]
}): Promise<ScenarioFigures> {
  const { nodes: NODES } = opts
  const dataDir = await mkdtemp(join(tmpdir(), 'bench-control-'))
  const tracker = spawn(
    process.execPath,
    [
      ...opts.trackerFlags,
      join(here, 'tracker-proc.ts'),
      ...['--data-dir', dataDir, '--port', '0', '--admin-token', ADMIN, '--enrollment-token', ENROLL],
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  )
  const { url, channelUrl } = JSON.parse(
    await new Promise<string>((resolve) => createInterface({ input: tracker.stdout! }).once('line', resolve)),
  ) as { url: string; channelUrl: string }
  const rss = sampleRss(tracker.pid!)
  const rssNow = async (): Promise<number> => {
    const status = await readFile(`/proc/${tracker.pid}/status`, 'utf8')
    return Math.round(Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1]) / 1024)
  }
  const metric = async (name: string): Promise<number> => {
    const text = await (await fetch(`${url}/metrics`)).text()
    return Number(new RegExp(`^${name} (\\S+)`, 'm').exec(text)?.[1] ?? Number.NaN)
  }
  // biome-ignore lint/suspicious/noExplicitAny: the API's JSON
  const api = async (method: string, path: string, body?: unknown): Promise<any> => {
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

  const tConnect = performance.now()
  const clients: ChildProcess[] = []
  const per = Math.ceil(NODES / opts.processes)
  for (let p = 0; p < opts.processes; p++) {
    const count = Math.min(per, NODES - p * per)
    clients.push(
      fork(join(here, 'clients.ts'), [channelUrl, String(count), String(p * per), ENROLL], {
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      }),
    )
  }
  const ready = await Promise.all(clients.map((c) => next(c, 'ready')))
  const connectS = (performance.now() - tConnect) / 1000
  const rssAfterConnect = await rssNow()
  const heapAfterConnect = await metric('dandelion_tracker_nodejs_heap_size_used_bytes')
  const ask = (type: string, reply: string, extra: object = {}): Promise<unknown[]> =>
    Promise.all(
      clients.map((c) => {
        const answer = next(c, reply)
        c.send({ type, ...extra })
        return answer
      }),
    )

  /** Creates a release for every node and polls its status until all ACKed, then all active. */
  const rollout = async (version: number): Promise<{ id: string; ackedS: number; activeS: number }> => {
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
  await ask('arm-drop', 'armed', { percent: opts.dropPercent })
  const second = await rollout(2)
  // biome-ignore lint/suspicious/noExplicitAny: IPC stats of the client processes
  const stats = (await ask('stats', 'stats')) as any[]
  const retransmits = await metric('dandelion_tracker_commands_retransmitted_total')
  const peakRss = rss.stop()
  const sum = (k: string): number => stats.reduce((a, s) => a + (s[k] as number), 0)
  const appliedOf = (id: string): number => stats.reduce((a, s) => a + (s.perRelease[`${id}:place`] ?? 0), 0)

  for (const c of clients) c.send({ type: 'exit' })
  tracker.kill('SIGTERM')
  await new Promise((r) => tracker.once('exit', r))
  await rm(dataDir, { recursive: true, force: true })
  return {
    connected: ready.reduce((a, r) => a + r.connected, 0),
    connect_enroll_s: connectS,
    all_acked_s: first.ackedS,
    all_active_s: first.activeS,
    commands_per_s: NODES / first.ackedS,
    tracker_peak_rss_mb: Math.round(peakRss),
    tracker_rss_after_connect_mb: rssAfterConnect,
    tracker_rss_after_release_1_mb: rssAfterFirst,
    tracker_heap_used_after_connect_mb: Math.round(heapAfterConnect / 2 ** 20),
    retransmits,
    lost: NODES - appliedOf(first.id) + (NODES - appliedOf(second.id)),
    duplicates: sum('duplicatesApplied'),
    redelivered_deduped: sum('redelivered'),
    dropped_connections: sum('dropped'),
    reconnect_all_acked_s: second.ackedS,
    reconnect_all_active_s: second.activeS,
  }
}
