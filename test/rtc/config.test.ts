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
