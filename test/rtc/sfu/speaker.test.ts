import { describe, expect, it } from 'vitest'
import { SpeakerDetector } from '../../../rtc/sfu/speaker.ts'

describe('speaker detector', () => {
  it('reports the loudest publisher and forgets rooms nobody publishes in', () => {
    const d = new SpeakerDetector({ thresholdDbov: 60 })
    for (let i = 0; i < 100; i++) {
      d.level(`r${i}`, 'a', 30)
      d.level(`r${i}`, 'b', 50)
    }
    expect(d.evaluate()).toHaveLength(100)
    for (let i = 0; i < 100; i++) {
      d.remove(`r${i}`, 'a')
      d.remove(`r${i}`, 'b')
    }
    expect(d.evaluate()).toEqual(Array.from({ length: 100 }, (_, i) => ({ room: `r${i}`, user: null })))
    // a class that ended holds no memory (the detector lives as long as the server)
    expect((d as unknown as { current: Map<string, unknown> }).current.size).toBe(0)
    d.level('r0', 'b', 20)
    expect(d.evaluate()).toEqual([{ room: 'r0', user: 'b' }])
  })
})
