/**
 * STUN/TURN servers told to clients: the `welcome` carries the server's list (TURN credentials
 * included) to whoever said a valid hello, fresh or resuming, and nothing a client without one
 * gets (the page, a refused hello) holds a credential. The daemon takes them from
 * `--ice-server` and `DANDELION_RTC_ICE_SERVERS`, and refuses a bad one with status 2.
 */
import { type ChildProcess, spawn as spawnProcess } from 'node:child_process'
import { createHmac } from 'node:crypto'
import { createInterface } from 'node:readline'
import { afterEach, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { issueToken } from '../../../rtc/auth/token.ts'
import { SignalingClient } from '../../../rtc/signaling/client.ts'
import type { ServerMessage } from '../../../rtc/signaling/messages.ts'
import { type Harness, SECRET, spawn } from './harness.ts'

const CREDENTIAL = 'turn-credential-s3cr3t'
const ICE = [
  { urls: 'stun:stun.school.example:3478' },
  { urls: 'turn:turn.school.example:3478?transport=udp', username: 'lamps', credential: CREDENTIAL },
]
const MAIN = new URL('../../../rtc/main.ts', import.meta.url).pathname

let h: Harness | undefined
const children: ChildProcess[] = []
afterEach(async () => {
  for (const c of children.splice(0)) c.kill('SIGKILL')
  await h?.teardown()
  h = undefined
})

/** Every text message `socket` gets until it closes. */
function collect(socket: WebSocket): Promise<string[]> {
  const got: string[] = []
  socket.on('message', (d) => got.push(String(d)))
  return new Promise((resolve) => socket.on('close', () => resolve(got)))
}

describe('ICE servers in the welcome', () => {
  it('are told to every client after its hello, fresh or resuming', async () => {
    h = await spawn({ iceServers: ICE })
    const teacher = await h.join('t', 'teacher', { room: 'c', kind: 'class' })
    const parent = await h.join('p', 'parent', { room: 'c' })
    expect(teacher.iceServers).toEqual(ICE)
    expect(parent.iceServers).toEqual(ICE)
    const again = teacher.next('welcome', { signal: AbortSignal.timeout(10_000) })
    teacher.drop()
    const welcome = await again
    expect(welcome.resumed).toBe(true)
    expect(welcome.iceServers).toEqual(ICE)
  })

  it('are an empty list when none are configured', async () => {
    h = await spawn()
    expect((await h.join('t', 'teacher')).iceServers).toEqual([])
  })

  it('are not given to a client without a valid hello, nor in the page', async () => {
    h = await spawn({ iceServers: ICE, helloTimeoutMs: 500 })
    const refused: string[][] = []
    // a forged token, a first message that is not hello, and no hello at all
    const forged = issueToken('another-secret-another', { sub: 'x', role: 'teacher', room: 'c' })
    for (const first of [{ type: 'hello', token: forged }, { type: 'ping' }, undefined]) {
      const socket = new WebSocket(h.wsUrl)
      const messages = collect(socket)
      await new Promise((resolve) => socket.once('open', resolve))
      if (first !== undefined) socket.send(JSON.stringify(first))
      refused.push(await messages)
    }
    expect(refused.map((m) => m.map((t) => (JSON.parse(t) as ServerMessage).type))).toEqual([
      ['error'],
      ['error'],
      ['error'],
    ])
    for (const path of ['/', '/app.js', '/index.html']) {
      const res = await h.server.app.inject({ method: 'GET', url: path })
      expect(res.body).not.toContain(CREDENTIAL)
    }
    expect(refused.flat().join('')).not.toContain(CREDENTIAL)
    expect(refused.flat().join('')).not.toContain('turn.school.example')
  })
})

describe('dandelion rtc --ice-server', () => {
  /** Runs `node rtc/main.ts rtc …` until it listens (its URL) or exits (its status and stderr). */
  async function run(
    args: string[],
    env: Record<string, string> = {},
  ): Promise<{ url?: string; status?: number | null; stderr: string }> {
    const child = spawnProcess(process.execPath, [MAIN, 'rtc', '--port', '0', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        DANDELION_RTC_SECRET: SECRET,
        DANDELION_RTC_ICE_SERVERS: '',
        DANDELION_RTC_TURN_SECRET: '',
        ...env,
      },
    })
    children.push(child)
    let stderr = ''
    child.stderr?.on('data', (d) => {
      stderr += String(d)
    })
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
    for await (const line of createInterface({ input: child.stdout! })) {
      const m = /^rtc listening on (http:\/\/\S+) /.exec(line)
      if (m !== null) return { url: m[1], stderr }
    }
    const status = await exited
    return { status, stderr }
  }

  async function welcomeOf(url: string): Promise<unknown> {
    const client = new SignalingClient({
      url: `${url.replace('http', 'ws')}/ws`,
      token: issueToken(SECRET, { sub: 'lamp', role: 'student', room: 'r' }),
      reconnect: false,
    })
    try {
      await client.connect({ signal: AbortSignal.timeout(20_000) })
      return client.iceServers
    } finally {
      client.close()
    }
  }

  it('reads repeated flags, or the variable, and tells the clients', async () => {
    const flags = await run([
      '--ice-server',
      'stun:stun.school.example:3478',
      '--ice-server',
      // the credential percent-encoded: it holds a colon and an at sign
      'turn:lamps:pa%3Ass%40word@turn.school.example:3478?transport=udp',
    ])
    expect(await welcomeOf(flags.url!)).toEqual([
      { urls: 'stun:stun.school.example:3478' },
      { urls: 'turn:turn.school.example:3478?transport=udp', username: 'lamps', credential: 'pa:ss@word' },
    ])
    const env = await run([], { DANDELION_RTC_ICE_SERVERS: JSON.stringify(ICE) })
    expect(await welcomeOf(env.url!)).toEqual(ICE)
  })

  it.each([
    [['--ice-server', 'turn:turn.school.example'], '--ice-server'],
    [['--ice-server', `stun:lamps:${CREDENTIAL}@stun.school.example`], '--ice-server'],
    [['--ice-server', `turns:lamps:${CREDENTIAL}@turn.school.example?transport=udp`], '--ice-server'],
    [['--ice-server', 'http://turn.school.example'], '--ice-server'],
    [['--ice-server', '{"urls":'], '--ice-server'],
    [['--ice-server', `{"urls":"turn:lamps:${CREDENTIAL}@turn.school.example"}`], '--ice-server'],
  ])('refuses %j with status 2, naming the flag and not the credential', async (args, flag) => {
    const { status, stderr } = await run(args)
    expect(status).toBe(2)
    expect(stderr).toContain(flag)
    expect(stderr).not.toContain(CREDENTIAL)
  })

  it('mints per-client TURN credentials from DANDELION_RTC_TURN_SECRET for a TURN server given without any', async () => {
    const turnSecret = 'coturn-static-auth-secret'
    const minted = await run(['--ice-server', 'turn:turn.school.example:3478', '--turn-ttl', '2h'], {
      DANDELION_RTC_TURN_SECRET: turnSecret,
    })
    const [server] = (await welcomeOf(minted.url!)) as Array<{
      urls: string
      username: string
      credential: string
    }>
    expect(server?.urls).toBe('turn:turn.school.example:3478')
    const [expiry, user] = server!.username.split(':')
    expect(user).toBe('lamp')
    expect(Math.abs(Number(expiry) - (Date.now() / 1000 + 7200))).toBeLessThan(60)
    // what coturn's use-auth-secret checks: base64(HMAC-SHA1(secret, username))
    expect(server?.credential).toBe(createHmac('sha1', turnSecret).update(server!.username).digest('base64'))
    expect(JSON.stringify(server)).not.toContain(turnSecret)
    // a secret with no TURN server to mint for, and a lifetime out of range: refused, naming the flag
    const nothingToMint = await run(['--ice-server', `turn:lamps:${CREDENTIAL}@turn.school.example`], {
      DANDELION_RTC_TURN_SECRET: turnSecret,
    })
    expect(nothingToMint.status).toBe(2)
    expect(nothingToMint.stderr).toContain('--turn-secret or DANDELION_RTC_TURN_SECRET')
    expect(nothingToMint.stderr).not.toContain(turnSecret)
    const tooShort = await run(['--ice-server', 'turn:turn.school.example', '--turn-ttl', '30s'], {
      DANDELION_RTC_TURN_SECRET: turnSecret,
    })
    expect(tooShort.status).toBe(2)
    expect(tooShort.stderr).toContain('--turn-ttl')
  })

  it('refuses a bad DANDELION_RTC_ICE_SERVERS with status 2, naming it', async () => {
    const { status, stderr } = await run([], { DANDELION_RTC_ICE_SERVERS: 'turn:turn.school.example:3478' })
    expect(status).toBe(2)
    expect(stderr).toContain('DANDELION_RTC_ICE_SERVERS')
  })
})
