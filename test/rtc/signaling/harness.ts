/** Spawns a signaling server and clients on 127.0.0.1 for tests. */
import { afterEach } from 'vitest'
import type { UploadGrantIssuer } from '../../../node/upload-grant.ts'
import { issueToken, type Role } from '../../../rtc/auth/token.ts'
import type { RtcProvider } from '../../../rtc/provider.ts'
import type { RoomKind } from '../../../rtc/room/types.ts'
import { type ControlHandler, SignalingClient } from '../../../rtc/signaling/client.ts'
import {
  createSignalingServer,
  type SignalingInit,
  type SignalingServer,
} from '../../../rtc/signaling/server.ts'

export const SECRET = 'test-secret-test-secret'

export interface Harness {
  server: SignalingServer
  wsUrl: string
  token(user: string, role: Role, room?: string, kind?: RoomKind): string
  join(
    user: string,
    role: Role,
    opts?: { room?: string; kind?: RoomKind; onControl?: ControlHandler; reconnect?: boolean },
  ): Promise<SignalingClient>
  teardown(): Promise<void>
}

export async function spawn(
  init: Partial<SignalingInit> = {},
  provider?: RtcProvider,
  grants?: UploadGrantIssuer,
): Promise<Harness> {
  const server = await createSignalingServer(
    { provider, grants },
    { secret: SECRET, graceMs: 2000, controlRetryMs: 100, ...init },
  )
  const wsUrl = server.url.replace('http', 'ws') + '/ws'
  const clients: SignalingClient[] = []
  const token = (user: string, role: Role, room = 'r1', kind: RoomKind = 'group'): string =>
    issueToken(SECRET, { sub: user, role, room, kind })
  return {
    server,
    wsUrl,
    token,
    async join(user, role, opts = {}) {
      const c = new SignalingClient({
        url: wsUrl,
        token: token(user, role, opts.room, opts.kind),
        controlRetryMs: 100,
        onControl: opts.onControl,
        reconnect: opts.reconnect,
      })
      clients.push(c)
      await c.connect()
      return c
    },
    async teardown() {
      for (const c of clients) c.close()
      await server.close()
    },
  }
}

/** What {@link harnessPerTest} gives a test file. */
export interface HarnessPerTest {
  /** Spawns this test's harness (as {@link spawn}); it is torn down after the test. */
  spawn: typeof spawn
  /** Closes `client`, made by the test itself rather than by `join`, after the test; returns it. */
  closeAfter<C extends SignalingClient>(client: C): C
}

/**
 * Registers an `afterEach` that closes the clients given to `closeAfter`, then tears down the
 * harness the test spawned: a file calls it once, at the top.
 */
export function harnessPerTest(): HarnessPerTest {
  let h: Harness | undefined
  const extra: SignalingClient[] = []
  afterEach(async () => {
    for (const c of extra.splice(0)) c.close()
    await h?.teardown()
    h = undefined
  })
  return {
    async spawn(...args) {
      h = await spawn(...args)
      return h
    },
    closeAfter(client) {
      extra.push(client)
      return client
    },
  }
}

/** Sends the action and resolves with the event it made, or the code of the error refusing it. */
export function outcome(c: SignalingClient, send: () => void): Promise<string> {
  const signal = AbortSignal.timeout(2_000)
  const r = Promise.race([
    c.next('error', { signal }).then((e) => e.code),
    c.next('event', { signal }).then((e) => e.event.type),
  ])
  send()
  return r
}
