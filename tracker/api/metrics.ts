/** Prometheus metrics of the tracker (own registry, so several trackers can share a process). */
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client'
import { counterReading, gaugeReading } from '../../node/metrics-gauge.ts'
import type { Backups } from '../backups.ts'
import type { ChannelServer } from '../channel/server.ts'
import { ATTENTION_REASONS } from '../health/attention.ts'
import { attentionCounts } from '../health/view.ts'
import { tokenState } from '../state/enrollment-tokens.ts'
import type { TrackerState } from '../state/index.ts'

/** Creates the registry; values are read at scrape time. */
export function createMetrics(state: TrackerState, channel: ChannelServer, backups?: Backups): Registry {
  const registry = new Registry()
  // process_resident_memory_bytes, heap and event-loop lag of the tracker process
  collectDefaultMetrics({ register: registry, prefix: 'dandelion_tracker_' })
  const gauge = (name: string, help: string, read: () => number): void => {
    gaugeReading(registry, name, help, read)
  }
  // what is on disk, as the admin API shows it
  const view = state.committed
  gauge('dandelion_tracker_nodes', 'Nodes in the inventory', () => view.inventory.nodes.size)
  gauge(
    'dandelion_tracker_nodes_connected',
    'Nodes with an open command channel',
    () => channel.stats.connected,
  )
  gauge('dandelion_tracker_commands_queued', 'Commands in the outbox', () => view.outbox.stats().queued)
  gauge('dandelion_tracker_commands_unacked', 'Commands not yet ACKed', () => view.outbox.stats().unacked)
  // counts since start, each only ever incremented (channel/transmit.ts, reports.ts,
  // welcome.ts, server.ts): counters, as their `_total` names say
  const counter = (name: string, help: string, read: () => number): void => {
    counterReading(registry, name, help, read)
  }
  counter('dandelion_tracker_commands_sent_total', 'Command transmissions', () => channel.stats.sent)
  counter(
    'dandelion_tracker_commands_retransmitted_total',
    'Retransmissions',
    () => channel.stats.retransmits,
  )
  counter('dandelion_tracker_acks_total', 'ACKs received', () => channel.stats.acks)
  counter('dandelion_tracker_outcomes_total', 'Outcomes received', () => channel.stats.outcomes)
  counter(
    'dandelion_tracker_auth_failures_total',
    'Refused channel handshakes',
    () => channel.stats.authFailures,
  )
  gauge(
    'dandelion_tracker_state_unavailable',
    '1 while state writes fail (from a failed write until one succeeds)',
    () => (state.failure === undefined ? 0 : 1),
  )
  gauge(
    'dandelion_tracker_releases_running',
    'Releases running',
    () => [...view.releases.releases.values()].filter((r) => r.status === 'running').length,
  )
  gauge(
    'dandelion_tracker_releases_kept',
    'Releases kept, compacted ones included (creating one past maxReleases is refused)',
    () => view.releases.releases.size,
  )
  gauge(
    'dandelion_tracker_releases_compacted',
    'Releases compacted to counts (rollout/retention.ts)',
    () => [...view.releases.releases.values()].filter((r) => r.compacted !== undefined).length,
  )
  new Gauge({
    name: 'dandelion_tracker_nodes_by_version',
    help: 'Nodes by the software version their last hello reported ("unknown": none reported)',
    labelNames: ['version'],
    registers: [registry],
    collect() {
      this.reset()
      const by = new Map<string, number>()
      for (const n of view.inventory.nodes.values()) {
        const v = n.version ?? 'unknown'
        by.set(v, (by.get(v) ?? 0) + 1)
      }
      for (const [version, count] of by) this.set({ version }, count)
    },
  })
  new Gauge({
    name: 'dandelion_tracker_nodes_attention',
    help: 'Nodes whose latest health report needs attention, by reason (tracker/health/attention.ts); every reason, 0 included',
    labelNames: ['reason'],
    registers: [registry],
    collect() {
      const counts = attentionCounts(channel.health, (id) => channel.isConnected(id))
      for (const reason of ATTENTION_REASONS) this.set({ reason }, counts.get(reason) ?? 0)
    },
  })
  gauge(
    'dandelion_tracker_nodes_health_reported',
    'Nodes with a health report since the tracker started (older agents send none)',
    () => channel.health.size,
  )
  gauge(
    'dandelion_tracker_enrollment_tokens_active',
    'Issued enrollment tokens that still enroll (not expired, not used up)',
    () => {
      const now = Date.now()
      return view.enrollmentTokens.list().filter((t) => tokenState(t, now) === 'active').length
    },
  )
  gauge(
    'dandelion_tracker_operator_tokens_active',
    'Operator tokens that are taken (not revoked, not expired)',
    () => view.operatorTokens.activeCount(Date.now()),
  )
  if (backups !== undefined) {
    // alert on its age: time() - this, above the backup interval and some
    gauge(
      'dandelion_tracker_backup_last_timestamp_seconds',
      'When the newest backup kept was taken (Unix seconds; 0: none)',
      () => (backups.lastTakenAt ?? 0) / 1000,
    )
    counter(
      'dandelion_tracker_backup_failures_total',
      'Backups that failed since start',
      () => backups.failures,
    )
  }
  return registry
}
