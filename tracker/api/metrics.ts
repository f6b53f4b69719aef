/** Prometheus metrics of the tracker (own registry, so several trackers can share a process). */
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client'
import type { ChannelServer } from '../channel/server.ts'
import type { TrackerState } from '../state/index.ts'

/** Creates the registry; values are read at scrape time. */
export function createMetrics(state: TrackerState, channel: ChannelServer): Registry {
  const registry = new Registry()
  // process_resident_memory_bytes, heap and event-loop lag of the tracker process
  collectDefaultMetrics({ register: registry, prefix: 'dandelion_tracker_' })
  const gauge = (name: string, help: string, read: () => number): void => {
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read())
      },
    })
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
  gauge('dandelion_tracker_commands_sent_total', 'Command transmissions', () => channel.stats.sent)
  gauge('dandelion_tracker_commands_retransmitted_total', 'Retransmissions', () => channel.stats.retransmits)
  gauge('dandelion_tracker_acks_total', 'ACKs received', () => channel.stats.acks)
  gauge('dandelion_tracker_outcomes_total', 'Outcomes received', () => channel.stats.outcomes)
  gauge(
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
  return registry
}
