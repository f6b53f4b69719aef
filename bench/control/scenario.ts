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
import { manifestCid } from '../../node/content/cid.ts'
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

/** Every child this module started: killed if the benchmark exits early (e.g. on an error). */
const children = new Set<ChildProcess>()
process.once('exit', () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL')
})

/** Figures of the SIGKILL phase. */
export interface CrashFigures {
  /** Nodes that had applied the release-3 command when the tracker died. */
  crash_applied_before_restart: number
  crash_tracker_restart_s: number
  crash_all_active_after_kill_s: number
  crash_restart_peak_rss_mb: number
  crash_lost: number
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
  /** Also kill the tracker (SIGKILL) mid-rollout and restart it. */
  crash?: boolean
}): Promise<ScenarioFigures & Partial<CrashFigures>> {
  const { nodes: NODES } = opts
  const dataDir = await mkdtemp(join(tmpdir(), 'bench-control-'))
  const start = async (port: number) => {
    const proc = spawn(
      process.execPath,
      [
        ...opts.trackerFlags,
        join(here, 'tracker-proc.ts'),
        ...[
          '--data-dir',
          dataDir,
          '--port',
          String(port),
          '--admin-token',
          ADMIN,
          '--enrollment-token',
          ENROLL,
        ],
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    )
    children.add(proc)
    const line = await new Promise<string>((resolve) =>
      createInterface({ input: proc.stdout! }).once('line', resolve),
    )
    return { proc, ...(JSON.parse(line) as { url: string; channelUrl: string }) }
  }
  const started = await start(0)
  let tracker = started.proc
  const { url, channelUrl } = started
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
  for (const v of [1, 2, 3]) {
    await api('POST', '/resources/lesson/versions', {
      version: v,
      // a well-formed manifest CID (the tracker checks it); the bench's nodes never fetch it
      manifestCid: manifestCid(new TextEncoder().encode(`bench-v${v}`)).toString(),
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
    const c = fork(join(here, 'clients.ts'), [channelUrl, String(count), String(p * per), ENROLL], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    })
    children.add(c)
    clients.push(c)
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
  const peakRss = rss.stop()

  // SIGKILL mid-rollout: stage 2 (90% of the nodes) was just committed and is being sent
  let crash: CrashFigures | undefined
  let third: string | undefined
  if (opts.crash === true) {
    const rel = await api('POST', '/releases', {
      resource: 'lesson',
      version: 3,
      targets: { cities: ['bench-city'] },
      stages: [{ percent: 10, gate: 'manual' }, { percent: 100 }],
    })
    third = rel.id
    for (;;) {
      const s = await api('GET', `/releases/${rel.id}`)
      if (s.stages[0].counts.active === s.stages[0].nodes) break
      await new Promise((r) => setTimeout(r, 50))
    }
    const stage0 = Math.ceil(NODES / 10)
    const appliedNow = async (): Promise<number> =>
      ((await ask('stats', 'stats')) as Array<{ perRelease: Record<string, number> }>).reduce(
        (a, s) => a + (s.perRelease[`${rel.id}:place`] ?? 0),
        0,
      )
    // fire the advance and kill the tracker as soon as the first stage-2 commands arrive:
    // it dies while still sending the rest
    const advanced = api('POST', `/releases/${rel.id}/advance`).catch(() => undefined)
    while ((await appliedNow()) <= stage0) await new Promise((r) => setImmediate(r))
    tracker.kill('SIGKILL')
    const killedAt = performance.now()
    await advanced
    await new Promise((r) => tracker.once('exit', r))
    const appliedBeforeRestart = await appliedNow()
    tracker = (await start(Number(new URL(url).port))).proc
    const restartRss = sampleRss(tracker.pid!)
    const restartedS = (performance.now() - killedAt) / 1000
    for (;;) {
      const s = await api('GET', `/releases/${rel.id}`)
      if (s.counts.active === NODES) break
      if ((performance.now() - killedAt) / 1000 > 120)
        throw new Error(`release 3 stuck: ${JSON.stringify(s.counts)}`)
      await new Promise((r) => setTimeout(r, 50))
    }
    crash = {
      crash_applied_before_restart: appliedBeforeRestart,
      crash_tracker_restart_s: restartedS,
      crash_all_active_after_kill_s: (performance.now() - killedAt) / 1000,
      crash_restart_peak_rss_mb: Math.round(restartRss.stop()),
      crash_lost: 0,
    }
  }
  // biome-ignore lint/suspicious/noExplicitAny: IPC stats of the client processes
  const stats = (await ask('stats', 'stats')) as any[]
  const retransmits = await metric('dandelion_tracker_commands_retransmitted_total')
  const sum = (k: string): number => stats.reduce((a, s) => a + (s[k] as number), 0)
  const appliedOf = (id: string): number => stats.reduce((a, s) => a + (s.perRelease[`${id}:place`] ?? 0), 0)

  for (const c of clients) c.send({ type: 'exit' })
  tracker.kill('SIGTERM')
  await new Promise((r) => tracker.once('exit', r))
  await rm(dataDir, { recursive: true, force: true })
  if (crash !== undefined && third !== undefined) crash.crash_lost = NODES - appliedOf(third)
  return {
    ...crash,
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
