/**
 * `GET /metrics` of the rtc server: rooms, who is in them (by role), sessions connected and
 * away, and the SFU's media counters, with a werift teacher publishing to a lamp; counts only.
 * Scraping takes nothing from the forwarding-delay samples the benchmark reads.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { type MediaHarness, spawnMedia, until } from './media-harness.ts'

let h: MediaHarness | undefined
afterEach(async () => {
  await h?.teardown()
  h = undefined
})

/** The value of `name` (with `labels` as written, e.g. `{role="student"}`) in `text`. */
function value(text: string, name: string, labels = ''): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `))
  if (line === undefined) throw new Error(`no ${name}${labels} in /metrics`)
  return Number(line.split(' ')[1])
}

describe('rtc /metrics', () => {
  it('counts rooms, participants by role, sessions and the media forwarded', {
    timeout: 30_000,
  }, async () => {
    h = await spawnMedia()
    const teacher = await h.publisher('t', 'teacher', 'c', 'class')
    const lamp = await h.receiver('lamp', 'c')
    await h.join('mum', 'parent', { room: 'c' })
    await h.join('t2', 'teacher', { room: 'other', kind: 'group' })
    await until(() => lamp.sub.packets() > 20, 'media at the lamp')
    // a student whose socket dropped: away, still a participant while it may resume
    const s2 = await h.join('s2', 'student', { room: 'c' })
    s2.drop()
    const scrape = async (): Promise<string> => (await h!.server.app.inject({ url: '/metrics' })).body
    await until(async () => value(await scrape(), 'dandelion_rtc_sessions_away') === 1, 's2 away')
    const text = await scrape()
    expect(value(text, 'dandelion_rtc_rooms')).toBe(2)
    expect(value(text, 'dandelion_rtc_participants', '{role="teacher"}')).toBe(2)
    expect(value(text, 'dandelion_rtc_participants', '{role="student"}')).toBe(2)
    expect(value(text, 'dandelion_rtc_participants', '{role="parent"}')).toBe(1)
    expect(value(text, 'dandelion_rtc_sessions_connected')).toBe(4)
    expect(value(text, 'dandelion_rtc_sfu_publishers')).toBe(1)
    expect(value(text, 'dandelion_rtc_sfu_tracks')).toBe(2)
    expect(value(text, 'dandelion_rtc_sfu_subscribers_connected')).toBeGreaterThanOrEqual(1)
    expect(value(text, 'dandelion_rtc_sfu_packets_received')).toBeGreaterThan(20)
    expect(value(text, 'dandelion_rtc_sfu_packets_sent')).toBeGreaterThan(20)
    expect(value(text, 'dandelion_rtc_process_resident_memory_bytes')).toBeGreaterThan(0)
    // no ids of users or rooms
    const samples = text.split('\n').filter((l) => !l.startsWith('#'))
    for (const l of samples) expect(l).not.toMatch(/\b(lamp|mum|s2|t2|other)\b|"c"/)
    // the scrapes left the delay samples to the next stats() call
    expect((await h.sfu.stats()).forwardDelaysMs.length).toBeGreaterThan(0)
    expect((await h.server.app.inject({ url: '/health' })).json()).toEqual({ ok: true })
    teacher.source.stop()
  })
})
