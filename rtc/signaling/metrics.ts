/**
 * Prometheus metrics of the rtc server (`GET /metrics`, a registry of its own): its rooms and
 * who is in them, and its SFU's media counters; counts only, no user or room ids. Values are
 * read when scraped.
 */
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client'
import { gaugeReading } from '../../node/metrics-gauge.ts'
import type { RtcProvider } from '../provider.ts'
import type { RoomRegistry } from './room-registry.ts'

const ROLES = ['teacher', 'student', 'parent'] as const

/** The registry of `rooms` and `provider`. */
export function createRtcMetrics(rooms: RoomRegistry, provider: RtcProvider): Registry {
  const registry = new Registry()
  // process_resident_memory_bytes, heap, event-loop lag of the server process
  collectDefaultMetrics({ register: registry, prefix: 'dandelion_rtc_' })
  const gauge = (name: string, help: string, read: () => number): void => {
    gaugeReading(registry, name, help, read)
  }
  gauge('dandelion_rtc_rooms', 'Rooms open', () => [...rooms.values()].length)
  new Gauge({
    name: 'dandelion_rtc_participants',
    help: 'Participants in the rooms (connected or within their resume grace period), by role',
    labelNames: ['role'],
    registers: [registry],
    collect() {
      const by = Object.fromEntries(ROLES.map((r) => [r, 0])) as Record<string, number>
      for (const room of rooms.values())
        for (const p of Object.values(room.hub.state.participants)) by[p.role] = (by[p.role] ?? 0) + 1
      for (const [role, n] of Object.entries(by)) this.set({ role }, n)
    },
  })
  const sessions = (away: boolean): number => {
    let n = 0
    for (const room of rooms.values())
      for (const s of room.hub.sessions.values()) if ((s.socket === null) === away) n++
    return n
  }
  gauge('dandelion_rtc_sessions_connected', 'Sessions whose client is connected', () => sessions(false))
  gauge(
    'dandelion_rtc_sessions_away',
    'Sessions whose client dropped and may still resume (within the grace period)',
    () => sessions(true),
  )
  const counters = provider.counters?.bind(provider)
  if (counters !== undefined) {
    const media = (name: string, help: string, key: keyof Awaited<ReturnType<typeof counters>>): void => {
      gaugeReading(registry, name, help, async () => (await counters())[key])
    }
    media('dandelion_rtc_sfu_publishers', 'Publishing connections', 'publishers')
    media('dandelion_rtc_sfu_tracks', 'Published tracks being forwarded', 'tracks')
    media('dandelion_rtc_sfu_subscribers', 'Receive connections', 'subscribers')
    media('dandelion_rtc_sfu_subscribers_connected', 'Receive connections connected', 'subscribersConnected')
    media('dandelion_rtc_sfu_packets_received', 'RTP packets received from publishers', 'packetsReceived')
    media(
      'dandelion_rtc_sfu_packets_sent',
      'RTP packets sent to subscribers by the tracks forwarded now',
      'packetsSent',
    )
    media(
      'dandelion_rtc_sfu_packets_retransmitted',
      'RTP packets sent again on a NACK, by the tracks forwarded now',
      'packetsRetransmitted',
    )
    media(
      'dandelion_rtc_sfu_keyframe_requests',
      'Keyframe requests (PLI) sent to publishers',
      'keyframeRequests',
    )
  }
  return registry
}
