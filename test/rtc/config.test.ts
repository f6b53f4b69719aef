import { describe, expect, it } from 'vitest'
import { runRtcCommand } from '../../rtc/cli.ts'
import { parseConfig } from '../../rtc/config.ts'

describe('rtc config', () => {
  it('fills defaults and freezes a copy', () => {
    const input = { secret: 's'.repeat(16), origin: 'http://127.0.0.1:9000/' }
    const c = parseConfig(input)
    expect(c).toMatchObject({ host: '127.0.0.1', port: 8443, shards: 0, origin: 'http://127.0.0.1:9000' })
    expect(Object.isFrozen(c)).toBe(true)
    expect(input.origin).toBe('http://127.0.0.1:9000/')
  })
  it.each([
    [{}, /secret/],
    [{ secret: 'short' }, /secret/],
    [{ secret: 's'.repeat(16), prot: 1 }, /additional/],
    [{ secret: 's'.repeat(16), port: 70000 }, /port/],
    [{ secret: 's'.repeat(16), origin: 'ftp://x' }, /origin/],
  ])('refuses %j', (input, why) => {
    expect(() => parseConfig(input)).toThrow(
      expect.objectContaining({ name: 'InvalidConfigError', message: expect.stringMatching(why) }),
    )
  })
  it('rejects unknown and malformed CLI flags before starting', async () => {
    await expect(runRtcCommand(['--nope'])).rejects.toMatchObject({ name: 'InvalidConfigError' })
    await expect(runRtcCommand(['--secret', 's'.repeat(16), '--port', 'abc'])).rejects.toMatchObject({
      name: 'InvalidConfigError',
    })
  })
})
