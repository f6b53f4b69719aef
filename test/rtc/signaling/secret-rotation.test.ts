/**
 * Rotating the token secret: tokens signed with a previous secret keep working while that
 * secret is listed as previous, so users already in or about to join a lesson are not all
 * refused at once (before, the only secret was `--secret`, and changing it was a flag day).
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { afterEach, describe, expect, it } from 'vitest'
import { issueToken, verifyToken } from '../../../rtc/auth/token.ts'
import { createRtcServer, type RtcServer } from '../../../rtc/index.ts'
import { NullProvider } from '../../../rtc/provider.ts'
import { SignalingClient } from '../../../rtc/signaling/client.ts'

const OLD = 'old-secret-old-secret'
const OLDER = 'older-secret-older-secret'
const NEW = 'new-secret-new-secret'
const MAIN = new URL('../../../rtc/main.ts', import.meta.url).pathname

const servers: RtcServer[] = []
const children: ChildProcess[] = []
afterEach(async () => {
  for (const c of children.splice(0)) c.kill('SIGKILL')
  await Promise.all(servers.splice(0).map((s) => s.close()))
})

const claims = (sub: string) => ({ sub, role: 'student' as const, room: 'math-7b', kind: 'group' as const })

/** Joins with `token`: 'welcome', or the code the server refused it with. */
async function join(url: string, token: string): Promise<string> {
  const client = new SignalingClient({ url: `${url.replace('http', 'ws')}/ws`, token, reconnect: false })
  try {
    await client.connect({ signal: AbortSignal.timeout(20_000) })
    return 'welcome'
  } catch (err) {
    return (err as { code?: string }).code ?? String(err)
  } finally {
    client.close()
  }
}

async function start(init: Record<string, unknown>): Promise<RtcServer> {
  const server = await createRtcServer({ provider: new NullProvider() }, { port: 0, ...init })
  servers.push(server)
  return server
}

/** Runs `node rtc/main.ts rtc …` and resolves with its URL once it listens. */
async function runDaemon(args: string[], env: Record<string, string> = {}): Promise<string> {
  const child = spawn(process.execPath, [MAIN, 'rtc', '--port', '0', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, DANDELION_RTC_SECRET: NEW, ...env },
  })
  children.push(child)
  let stderr = ''
  child.stderr?.on('data', (d) => {
    stderr += String(d)
  })
  for await (const line of createInterface({ input: child.stdout! })) {
    const m = /^rtc listening on (http:\/\/\S+) /.exec(line)
    if (m !== null) return m[1]!
  }
  throw new Error(`rtc exited before listening: ${stderr}`)
}

describe('token secret rotation', () => {
  it('verifies against the current and the previous secrets, and only those', () => {
    const old = issueToken(OLD, claims('s1'))
    expect(verifyToken([NEW, OLD], old)).toMatchObject({ sub: 's1' })
    expect(() => verifyToken([NEW], old)).toThrow(expect.objectContaining({ message: 'bad token signature' }))
    expect(() => verifyToken(NEW, old)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_TOKEN' }))
    const fresh = issueToken(NEW, claims('s2'))
    expect(verifyToken([NEW, OLD], fresh)).toMatchObject({ sub: 's2' })
    expect(verifyToken(NEW, fresh)).toMatchObject({ sub: 's2' })
    expect(() => verifyToken([], fresh)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_TOKEN' }))
  })

  it('lets in users whose tokens the previous secret signed while it is listed, and not after', async () => {
    const oldToken = issueToken(OLD, claims('s1'))
    const newToken = issueToken(NEW, claims('s2'))
    const during = await start({ secret: NEW, previousSecrets: [OLDER, OLD] })
    expect(await join(during.url, oldToken)).toBe('welcome')
    expect(await join(during.url, newToken)).toBe('welcome')
    expect(await join(during.url, issueToken('some-other-secret-entirely', claims('s3')))).toBe(
      'ERR_INVALID_TOKEN',
    )
    const after = await start({ secret: NEW })
    expect(await join(after.url, oldToken)).toBe('ERR_INVALID_TOKEN')
    expect(await join(after.url, newToken)).toBe('welcome')
  })

  it('takes previous secrets from repeated --previous-secret flags and DANDELION_RTC_PREVIOUS_SECRETS', async () => {
    const [fromFlags, fromEnv, none] = await Promise.all([
      runDaemon(['--previous-secret', OLDER, '--previous-secret', OLD]),
      runDaemon([], { DANDELION_RTC_PREVIOUS_SECRETS: `${OLDER}, ${OLD}` }),
      runDaemon([]),
    ])
    for (const url of [fromFlags, fromEnv]) {
      expect(await join(url, issueToken(OLD, claims('s1')))).toBe('welcome')
      expect(await join(url, issueToken(OLDER, claims('s2')))).toBe('welcome')
      expect(await join(url, issueToken(NEW, claims('s3')))).toBe('welcome')
    }
    expect(await join(none, issueToken(OLD, claims('s1')))).toBe('ERR_INVALID_TOKEN')
    expect(await join(none, issueToken(NEW, claims('s3')))).toBe('welcome')
  })
})
