/**
 * `npm run bench -- control [nodes=5000] [processes=2]`: one tracker (child process, RSS
 * sampled) and N light nodes speaking the real channel protocol in 1–2 client processes.
 * Release 1 targets every node: time until all ACKed / all active, commands per second.
 * Release 2 targets every node again while 10% of the connections drop on receipt
 * (half before their ACK, half after it) and reconnect: time until all ACKed again.
 * lost = nodes that never applied a release's command; duplicates = a node applying
 * a second command for the same release.
 *
 * The scenario runs twice: the tracker with Node's default flags (headline figures), and
 * with `--max-semi-space-size=1` (`semi1_*` figures), the setting README recommends.
 * The default-flag run also creates release 3 in two stages, SIGKILLs the tracker as soon
 * as the first commands of stage 2 (the operator's `advance`) reach the nodes, restarts it
 * on the same data dir and port, and measures until every node is active (`crash_*`; lost counted per node,
 * duplicates across all releases).
 * Then 1,000 channels over each candidate transport (`transport_*`): WebSocket with an
 * ed25519 challenge vs libp2p tcp + noise + yamux, host RSS and connect time.
 */

import { runScenario, type ScenarioFigures } from './control/scenario.ts'
import { measureLibp2p, measureWebSocket } from './control/transport.ts'
import { printTable, writeResults } from './lib/report.ts'

const NODES = Number(process.argv[2] ?? 5000)
const PROCS = Number(process.argv[3] ?? 2)
const DROP_PERCENT = 10
const TUNED = ['--max-semi-space-size=1']

const base = await runScenario({
  nodes: NODES,
  processes: PROCS,
  dropPercent: DROP_PERCENT,
  trackerFlags: [],
  crash: true,
})
const tuned = await runScenario({
  nodes: NODES,
  processes: PROCS,
  dropPercent: DROP_PERCENT,
  trackerFlags: TUNED,
})

// the transport decision: what 1,000 channels cost the host over each candidate
const TRANSPORT_N = 1000
const ws = await measureWebSocket(TRANSPORT_N)
const p2p = await measureLibp2p(TRANSPORT_N)
printTable(`transport: ${TRANSPORT_N} authenticated connections to one host`, [
  {
    transport: 'WebSocket + ed25519 challenge (tracker)',
    ...ws,
    rss_delta_mb: ws.host_rss_connected_mb - ws.host_rss_idle_mb,
  },
  {
    transport: 'libp2p tcp + noise + yamux (bare host)',
    ...p2p,
    rss_delta_mb: p2p.host_rss_connected_mb - p2p.host_rss_idle_mb,
  },
])

const row = (label: string, f: ScenarioFigures) => ({
  tracker: label,
  all_acked_s: f.all_acked_s,
  commands_per_s: f.commands_per_s,
  reconnect_all_acked_s: f.reconnect_all_acked_s,
  peak_rss_mb: f.tracker_peak_rss_mb,
  lost: f.lost,
  duplicates: f.duplicates,
  redelivered: f.redelivered_deduped,
  dropped: f.dropped_connections,
})
printTable(`control plane: one tracker, ${NODES} light nodes over the real channel protocol`, [
  row('default flags', base),
  row(TUNED.join(' '), tuned),
])
printTable('tracker SIGKILLed while sending stage 2 of release 3 (90% of the nodes), then restarted', [
  {
    applied_before_kill: base.crash_applied_before_restart ?? 0,
    restart_s: base.crash_tracker_restart_s ?? 0,
    all_active_after_kill_s: base.crash_all_active_after_kill_s ?? 0,
    restarted_peak_rss_mb: base.crash_restart_peak_rss_mb ?? 0,
    lost: base.crash_lost ?? 0,
    duplicates_all_releases: base.duplicates,
  },
])
const figures = {
  nodes: NODES,
  client_processes: PROCS,
  drop_percent: DROP_PERCENT,
  ...base,
  ...Object.fromEntries(Object.entries(tuned).map(([k, v]) => [`semi1_${k}`, v])),
  transport_connections: TRANSPORT_N,
  transport_ws_connect_s: ws.connect_s,
  transport_ws_host_rss_delta_mb: ws.host_rss_connected_mb - ws.host_rss_idle_mb,
  transport_libp2p_connected: p2p.connected,
  transport_libp2p_connect_s: p2p.connect_s,
  transport_libp2p_host_rss_delta_mb: p2p.host_rss_connected_mb - p2p.host_rss_idle_mb,
  target_all_acked_s: 10,
  target_tracker_rss_mb: 300,
}
process.stdout.write(`wrote ${writeResults('control', figures)}\n`)
