/**
 * The operators' view of the live classes (`GET /api/rooms`, `--ops-token`): which rooms are
 * open and who is in each, for support; closed to anyone without the token, and absent when no
 * token is configured. A real rtc server (`createRtcServer`) and real clients.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { issueToken } from '../../../rtc/auth/token.ts'
import { createRtcServer, type RtcServer } from '../../../rtc/index.ts'
import { NullProvider } from '../../../rtc/provider.ts'
import { SignalingClient } from '../../../rtc/signaling/client.ts'

const SECRET = 's'.repeat(16)
const OPS = 'ops-token-for-tests'
const cleanup: Array<() => Promise<unknown> | unknown> = []
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c()
})

async function server(init: object = {}): Promise<RtcServer> {
  const s = await createRtcServer({ provider: new NullProvider() }, { secret: SECRET, port: 0, ...init })
  cleanup.push(() => s.close())
  return s
}

async function join(
  s: RtcServer,
  sub: string,
  role: 'teacher' | 'student' | 'parent',
  room: string,
): Promise<SignalingClient> {
  const c = new SignalingClient({
    url: `${s.url.replace('http', 'ws')}/ws`,
    token: issueToken(SECRET, { sub, role, room, kind: 'class' }),
    reconnect: false,
  })
  cleanup.push(() => c.close())
  await c.connect()
  return c
}

const get = (s: RtcServer, path: string, token?: string) =>
  fetch(`${s.url}${path}`, { headers: token === undefined ? {} : { authorization: `Bearer ${token}` } })

describe('rtc ops routes', () => {
  it('list the open rooms and who is in one, to the ops token only', async () => {
    const s = await server({ opsToken: OPS })
    const teacher = await join(s, 't', 'teacher', 'math-3')
    await join(s, 's1', 'student', 'math-3')
    await join(s, 'mum', 'parent', 'math-3')
    await join(s, 't2', 'teacher', 'art-1')
    teacher.action('stage.invite', { user: 's1' })
    await teacher.waitFor((st) => st.stage.includes('s1'))

    const rooms = (await (await get(s, '/api/rooms', OPS)).json()) as Array<{ id: string }>
    expect(rooms.sort((a, b) => (a.id < b.id ? -1 : 1))).toEqual([
      {
        id: 'art-1',
        kind: 'class',
        participants: 1,
        connected: 1,
        byRole: { teacher: 1, student: 0, parent: 0 },
        call: null,
        stage: 0,
        hands: 0,
      },
      {
        id: 'math-3',
        kind: 'class',
        participants: 3,
        connected: 3,
        byRole: { teacher: 1, student: 1, parent: 1 },
        call: null,
        stage: 1,
        hands: 0,
      },
    ])
    const room = (await (await get(s, '/api/rooms/math-3', OPS)).json()) as {
      participants: Array<{ id: string; role: string }>
    }
    expect(room).toMatchObject({ id: 'math-3', stage: ['s1'], hands: [] })
    expect(room.participants.map((p: { id: string; role: string }) => `${p.id}:${p.role}`).sort()).toEqual([
      'mum:parent',
      's1:student',
      't:teacher',
    ])
    expect((await get(s, '/api/rooms/nope', OPS)).status).toBe(404)
    // no token, a wrong one, a user's signed-in token: refused
    expect((await get(s, '/api/rooms')).status).toBe(401)
    expect((await get(s, '/api/rooms', 'wrong-token-wrong')).status).toBe(403)
    expect(
      (await get(s, '/api/rooms/math-3', issueToken(SECRET, { sub: 't', role: 'teacher', room: 'math-3' })))
        .status,
    ).toBe(403)
  })

  it('do not exist without an ops token, and refuse one equal to the token secret', async () => {
    const s = await server()
    expect((await get(s, '/api/rooms', OPS)).status).toBe(404)
    await expect(
      createRtcServer({ provider: new NullProvider() }, { secret: SECRET, port: 0, opsToken: SECRET }),
    ).rejects.toThrow(/opsToken must differ .*--ops-token/)
  })
})
