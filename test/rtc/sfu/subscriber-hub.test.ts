import { describe, expect, it } from 'vitest'
import { SubscriberHub } from '../../../rtc/sfu/subscriber-hub.ts'

describe('subscriber hub join slots', () => {
  it('drops a subscription whose user left while it waited for a join slot, and remembers no one else', async () => {
    const offers: string[] = []
    const hub = new SubscriberHub(
      { offer: (_room, user) => offers.push(user), keyframe: () => {} },
      { loopback: true, maxConcurrentJoins: 1 },
    )
    try {
      await hub.subscribe('r', 'first') // holds the only join slot until it connects
      const second = hub.subscribe('r', 'second') // waits for the slot
      await hub.leave('r', 'second') // left while waiting
      // users who never subscribed, leaving while the hub is busy, are not remembered
      for (let i = 0; i < 50; i++) await hub.leave('r', `passer-${i}`)
      expect((hub as unknown as { cancelled: Set<string> }).cancelled.size).toBe(1)
      await hub.leave('r', 'first') // frees the slot: the waiting join goes on, and is dropped
      await second
      expect(hub.stats().subscribers).toBe(0)
      expect((hub as unknown as { cancelled: Set<string> }).cancelled.size).toBe(0)
      // and a user who subscribes later is served
      await hub.subscribe('r', 'passer-3')
      expect(hub.stats().subscribers).toBe(1)
    } finally {
      await hub.close()
    }
  }, 20_000)
})
