import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { isEd25519PeerId } from '../../node/ed25519.ts'
import { runRtcCommand } from '../../rtc/cli.ts'
import { parseConfig } from '../../rtc/config.ts'
import { createRtcServer } from '../../rtc/index.ts'
import { NullProvider } from '../../rtc/provider.ts'

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
    [{ secret: 's'.repeat(16), photoMaxBytes: 0 }, /photoMaxBytes/],
  ])('refuses %j', (input, why) => {
    expect(() => parseConfig(input)).toThrow(
      expect.objectContaining({ name: 'InvalidConfigError', message: expect.stringMatching(why) }),
    )
  })
  it.each([
    ['a short one', ['short']],
    ['a long one', ['p'.repeat(513)]],
    ['a string, not a list', 'p'.repeat(16)],
    ['more than 8', Array.from({ length: 9 }, (_, i) => `p${i}`.repeat(16))],
  ])('refuses previous secrets: %s, naming the flag', (_name, previousSecrets) => {
    expect(() => parseConfig({ secret: 's'.repeat(16), previousSecrets })).toThrow(
      expect.objectContaining({
        name: 'InvalidConfigError',
        message: expect.stringMatching(
          /previousSecrets.*\(--previous-secret or DANDELION_RTC_PREVIOUS_SECRETS\)/,
        ),
      }),
    )
  })
  it('keeps previous secrets apart from the current one, once each', () => {
    const c = parseConfig({
      secret: 's'.repeat(16),
      previousSecrets: ['p'.repeat(16), 's'.repeat(16), 'p'.repeat(16)],
    })
    expect(c.previousSecrets).toEqual(['p'.repeat(16)])
    expect(parseConfig({ secret: 's'.repeat(16) }).previousSecrets).toEqual([])
  })
  it('names the flag or variable of a bad previous secret before starting', async () => {
    const secret = ['--secret', 's'.repeat(16), '--port', '0']
    await expect(runRtcCommand([...secret, '--previous-secret', 'too-short'])).rejects.toMatchObject({
      name: 'InvalidConfigError',
      message: expect.stringContaining('--previous-secret'),
    })
    await expect(
      runRtcCommand([...secret, '--previous-secret', 'p'.repeat(16), '--previous-secret', '']),
    ).rejects.toMatchObject({
      name: 'InvalidConfigError',
      message: expect.stringMatching(/previousSecrets\/1 .*--previous-secret/),
    })
    const before = process.env.DANDELION_RTC_PREVIOUS_SECRETS
    process.env.DANDELION_RTC_PREVIOUS_SECRETS = `${'p'.repeat(16)},short`
    try {
      await expect(runRtcCommand(secret)).rejects.toMatchObject({
        name: 'InvalidConfigError',
        message: expect.stringContaining('DANDELION_RTC_PREVIOUS_SECRETS'),
      })
    } finally {
      if (before === undefined) delete process.env.DANDELION_RTC_PREVIOUS_SECRETS
      else process.env.DANDELION_RTC_PREVIOUS_SECRETS = before
    }
  })
  it('rejects unknown and malformed CLI flags before starting', async () => {
    await expect(runRtcCommand(['--nope'])).rejects.toMatchObject({ name: 'InvalidConfigError' })
    await expect(runRtcCommand(['--secret', 's'.repeat(16), '--port', 'abc'])).rejects.toMatchObject({
      name: 'InvalidConfigError',
    })
  })
  it('signs photo grants with a key kept across restarts, only when lamps are given an origin', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rtc-grant-key-'))
    try {
      const config = {
        secret: 's'.repeat(16),
        port: 0,
        origin: 'http://127.0.0.1:9',
        grantKeyFile: join(dir, 'k', 'grant.key'),
      }
      const first = await createRtcServer({ provider: new NullProvider() }, config)
      await first.close()
      const second = await createRtcServer({ provider: new NullProvider() }, config)
      await second.close()
      expect(isEd25519PeerId(first.grantIssuer ?? '')).toBe(true)
      expect(second.grantIssuer).toBe(first.grantIssuer)
      const noOrigin = await createRtcServer(
        { provider: new NullProvider() },
        { secret: 's'.repeat(16), port: 0 },
      )
      await noOrigin.close()
      expect(noOrigin.grantIssuer).toBeUndefined()
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
