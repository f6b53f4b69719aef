import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { isEd25519PeerId } from '../../node/ed25519.ts'
import { runRtcCommand } from '../../rtc/cli.ts'
import { parseConfig } from '../../rtc/config.ts'
import { iceServersFromEnv, parseIceServerArg } from '../../rtc/ice-servers.ts'
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

  it('takes STUN/TURN servers as RTCIceServer objects and keeps frozen copies', () => {
    const iceServers = [
      { urls: 'stun:stun.school.example' },
      { urls: ['turn:10.0.0.1:3478?transport=udp', 'turns:[fd00::1]:5349'], username: 'u', credential: 'c' },
    ]
    const c = parseConfig({ secret: 's'.repeat(16), iceServers })
    expect(c.iceServers).toEqual(iceServers)
    expect(c.iceServers).not.toBe(iceServers)
    expect(Object.isFrozen(c.iceServers) && Object.isFrozen(c.iceServers[1])).toBe(true)
    expect(parseConfig({ secret: 's'.repeat(16) }).iceServers).toEqual([])
  })
  it.each([
    ['a TURN server without credentials', [{ urls: 'turn:h' }], /needs a username and a credential/],
    [
      'credentials on a STUN server',
      [{ urls: 'stun:h', username: 'u', credential: 'c' }],
      /turn: servers only/,
    ],
    ['another scheme', [{ urls: 'http://h' }], /is not stun:/],
    ['stuns:', [{ urls: 'stuns:h' }], /stuns: is not supported/],
    ['turns over udp', [{ urls: 'turns:h?transport=udp', username: 'u', credential: 'c' }], /tcp only/],
    ['a port out of range', [{ urls: 'stun:h:70000' }], /port 70000/],
    ['a transport on STUN', [{ urls: 'stun:h?transport=tcp' }], /no \?transport/],
    ['an unknown key', [{ urls: 'stun:h', url: 'x' }], /additional/],
    ['no urls', [{}], /urls/],
    ['more than 8', Array.from({ length: 9 }, () => ({ urls: 'stun:h' })), /iceServers/],
  ])('refuses ICE servers: %s, naming the flag and variable', (_name, iceServers, why) => {
    const err = (() => {
      try {
        parseConfig({ secret: 's'.repeat(16), iceServers })
      } catch (e) {
        return e as Error
      }
    })()
    expect(err).toMatchObject({ name: 'InvalidConfigError', message: expect.stringMatching(why) })
    expect(err?.message).toContain('(--ice-server or DANDELION_RTC_ICE_SERVERS)')
  })
  it('takes a TURN secret for TURN servers given without credentials, and nothing else', () => {
    const secret = 's'.repeat(16)
    const turnSecret = 't'.repeat(16)
    const c = parseConfig({ secret, turnSecret, iceServers: [{ urls: 'turn:h:3478' }, { urls: 'stun:h' }] })
    expect(c).toMatchObject({ turnSecret, turnTtlSeconds: 86_400 })
    const refused = (input: object): string => {
      try {
        parseConfig({ secret, ...input })
      } catch (err) {
        return (err as Error).message
      }
      return 'taken'
    }
    // without a secret, a TURN server needs its credentials, and the message names the way out
    expect(refused({ iceServers: [{ urls: 'turn:h' }] })).toMatch(/--turn-secret/)
    expect(refused({ turnSecret, iceServers: [{ urls: 'turn:h', username: 'u' }] })).toMatch(
      /both a username/,
    )
    // a secret with nothing to mint for is a mistake
    expect(refused({ turnSecret, iceServers: [{ urls: 'stun:h' }] })).toMatch(
      /no turn: server is given without/,
    )
    expect(refused({ turnSecret, iceServers: [{ urls: 'turn:h' }], turnTtlSeconds: 10 })).toMatch(
      /--turn-ttl/,
    )
    expect(refused({ turnSecret: 'short', iceServers: [{ urls: 'turn:h' }] })).toMatch(
      /DANDELION_RTC_TURN_SECRET/,
    )
    expect(refused({ turnSecret: 'short', iceServers: [{ urls: 'turn:h' }] })).not.toContain('short"')
  })

  it('reads an --ice-server value as a URL with the TURN credentials before the host, or as JSON', () => {
    expect(parseIceServerArg('stun:stun.school.example:3478')).toEqual({
      urls: 'stun:stun.school.example:3478',
    })
    expect(parseIceServerArg('turn:lamps:pa%3Ass%40w@turn.school.example:3478?transport=tcp')).toEqual({
      urls: 'turn:turn.school.example:3478?transport=tcp',
      username: 'lamps',
      credential: 'pa:ss@w',
    })
    // an unencoded colon in the credential is the credential's
    expect(parseIceServerArg('turns:u:a:b@h')).toEqual({ urls: 'turns:h', username: 'u', credential: 'a:b' })
    expect(parseIceServerArg('{"urls":["turn:h"],"username":"u","credential":"c"}')).toEqual({
      urls: ['turn:h'],
      username: 'u',
      credential: 'c',
    })
    expect(() => parseIceServerArg('turn:nocredential@h')).toThrow(
      expect.objectContaining({
        name: 'InvalidConfigError',
        message: expect.stringContaining('--ice-server'),
      }),
    )
    expect(() => parseIceServerArg('{nope')).toThrow(expect.objectContaining({ name: 'InvalidConfigError' }))
    expect(() => parseIceServerArg('turn:u:%zz@h')).toThrow(/percent-encoding/)
  })
  it('reads DANDELION_RTC_ICE_SERVERS as URLs separated by blanks or commas, or a JSON array', () => {
    expect(iceServersFromEnv('stun:a, turn:u:c@b  stun:c')).toEqual([
      { urls: 'stun:a' },
      { urls: 'turn:b', username: 'u', credential: 'c' },
      { urls: 'stun:c' },
    ])
    expect(iceServersFromEnv('[{"urls":"stun:a"}]')).toEqual([{ urls: 'stun:a' }])
    expect(iceServersFromEnv(undefined)).toBeUndefined()
    expect(iceServersFromEnv('  ')).toBeUndefined()
    expect(() => iceServersFromEnv('[oops')).toThrow(/DANDELION_RTC_ICE_SERVERS/)
  })
})
