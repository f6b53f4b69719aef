import { afterEach, describe, expect, it } from 'vitest'
import { type MediaHarness, spawnMedia, until } from './media-harness.ts'

let h: MediaHarness
afterEach(async () => {
  await h?.teardown()
})

describe('a class of 50 receivers on two worker shards', () => {
  it('delivers the teacher to every student and hidden parent', async () => {
    h = await spawnMedia({ shards: 2 })
    const teacher = await h.publisher('t', 'teacher', 'c', 'class', {
      fps: 10,
      packetsPerFrame: 1,
      payloadBytes: 600,
    })
    const receivers = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        h.receiver(i < 48 ? `s${i}` : `p${i}`, 'c', i < 48 ? 'student' : 'parent'),
      ),
    )
    await until(
      () => receivers.every((r) => r.sub.tracks.length === 2 && r.sub.tracks.every((t) => t.packets > 5)),
      'media at all 50',
      50_000,
    )
    const stats = await h.sfu.stats()
    expect(stats.subscribers).toBe(50)
    expect(stats.ready).toBe(50)
    // parents stay hidden from students, visible to the teacher
    expect(receivers[0].sig.state!.participants.p49).toBeUndefined()
    expect(teacher.sig.state!.participants.p49.hidden).toBe(true)
    expect(Object.keys(teacher.sig.state!.participants)).toHaveLength(51)
  })
})
