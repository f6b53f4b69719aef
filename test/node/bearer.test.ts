import { describe, expect, it } from 'vitest'
import { bearerVerdict } from '../../node/bearer.ts'

describe('bearer token check', () => {
  it('reads the scheme in any case, as HTTP has it, and tells a missing token from a wrong one', () => {
    for (const h of ['Bearer s3cret-token', 'bearer s3cret-token', 'BEARER  s3cret-token '])
      expect(bearerVerdict(h, 's3cret-token')).toBe('ok')
    expect(bearerVerdict('Bearer other', 's3cret-token')).toBe('wrong')
    for (const h of [undefined, '', 'Basic czNjcmV0', 'Bearers3cret-token'])
      expect(bearerVerdict(h, 's3cret-token')).toBe('missing')
  })
})
