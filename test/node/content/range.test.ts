import { describe, expect, it } from 'vitest'
import { parseRange } from '../../../node/content/range.ts'

describe('Range header parsing', () => {
  it('reads the unit in any case, as RFC 9110 has it, so a seek is not answered with the whole file', () => {
    for (const h of ['bytes=10-19', 'Bytes=10-19', 'BYTES=10-19', 'bytes = 10 - 19'])
      expect(parseRange(h, 100)).toEqual({ start: 10, end: 19 })
  })

  it('sends everything for other units, several ranges and garbage; 416 past the end', () => {
    for (const h of ['items=0-1', 'bytes=0-1,5-6', 'bytes=x-y', 'bytes=-'])
      expect(parseRange(h, 100)).toBeUndefined()
    expect(parseRange('bytes=100-', 100)).toBe('unsatisfiable')
    expect(parseRange('bytes=-0', 100)).toBe('unsatisfiable')
    expect(parseRange('bytes=-30', 100)).toEqual({ start: 70, end: 99 })
  })
})
