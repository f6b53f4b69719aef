/**
 * TURN credentials minted from the TURN server's shared secret (`--turn-secret`): each client is
 * sent its own in its welcome, expiring, and new ones before they do; the SFU mints its own for
 * each connection. A TURN server on loopback checks them as coturn does (`turn-server.ts`), and
 * real werift connections (the lamp's, the teacher's, the SFU's) allocate on it with them.
 */
import { createHash, createHmac } from 'node:crypto'
import { createSocket } from 'node:dgram'
import { once } from 'node:events'
import { afterEach, describe, expect, it } from 'vitest'
import { classes, Message, methods, parseMessage } from 'werift'
import { subscribe } from '../../../rtc/client/media.ts'
import { spawnMedia, until } from './media-harness.ts'
import { startStunServer } from './stun-server.ts'
import { startTurnServer, TURN_REALM } from './turn-server.ts'

const cleanup: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c()
})

const SECRET = 'turn-shared-secret-for-tests'

/**
 * One authenticated Allocate to the TURN server at `url`, as a TURN client sends it after the
 * server's challenge (RFC 5766 §6.2): whether it was taken.
 */
async function allocate(url: string, username: string, password: string): Promise<'allocated' | 'refused'> {
  const socket = createSocket('udp4')
  try {
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()))
    const key = createHash('md5').update(`${username}:${TURN_REALM}:${password}`).digest()
    const req = new Message(methods.ALLOCATE, classes.REQUEST)
      .setAttribute('LIFETIME', 600)
      .setAttribute('REQUESTED-TRANSPORT', 0x11000000)
      .setAttribute('USERNAME', username)
      .setAttribute('REALM', TURN_REALM)
      .setAttribute('NONCE', Buffer.from('nonce-0123456789'))
      .addMessageIntegrity(key)
    const answer = once(socket, 'message')
    socket.send(req.bytes, Number(url.split(':')[2]), '127.0.0.1')
    const [data] = (await answer) as [Buffer]
    return parseMessage(data)?.messageClass === classes.RESPONSE ? 'allocated' : 'refused'
  } finally {
    socket.close()
  }
}

describe('TURN credentials minted from the TURN secret', () => {
  it.each([
    ['in the main thread', 0],
    ['in a worker shard', 1],
  ])(
    'give each client and the SFU (receive connections %s) credentials of their own that the TURN server takes',
    {
      timeout: 30_000,
    },
    async (_where, shards) => {
      const turnServer = await startTurnServer(SECRET)
      cleanup.push(() => turnServer.close())
      const iceServers = [{ urls: turnServer.url }]
      const turn = { secret: SECRET, ttlSeconds: 3600 }
      const h = await spawnMedia({ iceServers, turn, shards }, { iceServers, turn })
      cleanup.push(() => h.teardown())
      // the teacher's and the lamp's own connections, and the SFU's, are made with what they are told
      const teacher = await h.publisher('t', 'teacher', 'r', 'one-on-one')
      const lamp = await h.receiver('lamp', 'r')

      // each welcome: the TURN URL with a username for that user, expiring in an hour
      const now = Date.now() / 1000
      const [mine] = lamp.sig.iceServers
      expect(mine?.urls).toBe(turnServer.url)
      const [expiry, user] = (mine?.username ?? '').split(':')
      expect(user).toBe('lamp')
      expect(Number(expiry)).toBeGreaterThan(now + 3590)
      expect(Number(expiry)).toBeLessThan(now + 3610)
      expect(teacher.sig.iceServers[0]?.username).toMatch(/^\d+:t$/)
      expect(teacher.sig.iceServers[0]?.credential).not.toBe(mine?.credential)

      // they allocate with them while media flows
      await until(
        () => lamp.sub.tracks.some((t) => t.kind === 'video' && t.packets > 10),
        'video at the lamp',
      )
      const users = turnServer.allocated.map((u) => u.split(':')[1])
      expect(users).toContain('t')
      expect(users).toContain('lamp')
      // the SFU's publish connection and its receive connection to the lamp
      expect(users.filter((u) => u === 'sfu').length).toBeGreaterThanOrEqual(2)
      expect(turnServer.refused).toEqual([])
      expect(teacher.pub.pc.localDescription?.sdp).toContain('typ relay')

      // the same server refuses what it should (so the allocations above are not a rubber stamp):
      // an expired username with its right credential, a forged credential
      const expired = `${Math.floor(now) - 10}:lamp`
      expect(
        await allocate(turnServer.url, expired, createHmac('sha1', SECRET).update(expired).digest('base64')),
      ).toBe('refused')
      expect(await allocate(turnServer.url, mine?.username as string, 'forged')).toBe('refused')
      expect(await allocate(turnServer.url, mine?.username as string, mine?.credential as string)).toBe(
        'allocated',
      )
    },
  )

  it('send a connected client new credentials before its own expire', { timeout: 30_000 }, async () => {
    const turnServer = await startTurnServer(SECRET)
    cleanup.push(() => turnServer.close())
    const stunServer = await startStunServer()
    cleanup.push(() => stunServer.close())
    const iceServers = [{ urls: stunServer.url }, { urls: turnServer.url }]
    const turn = { secret: SECRET, ttlSeconds: 3600 }
    const h = await spawnMedia({ iceServers, turn }, { iceServers, turn, iceRefreshMs: 300 })
    cleanup.push(() => h.teardown())
    const lamp = await h.join('lamp', 'student', { room: 'r' })
    const first = lamp.iceServers[1]?.username
    await until(() => lamp.iceServers[1]?.username !== first, 'new credentials', 10_000)
    const [stun, fresh] = lamp.iceServers
    expect(stun).toEqual({ urls: stunServer.url })
    expect(Number(fresh?.username?.split(':')[0])).toBeGreaterThan(Number(first?.split(':')[0]))
    // a connection made now allocates with the new ones
    const sub = await subscribe(lamp, { loopback: true })
    cleanup.push(() => sub.close())
    await until(
      () => turnServer.allocated.includes(fresh?.username as string),
      'allocation with the new ones',
    )
  })
})
