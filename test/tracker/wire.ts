/**
 * The tracker as its clients see it on the wire: the admin API over real HTTP, its SSE
 * stream, and a bare node speaking the channel protocol frame by frame.
 */
import { once } from 'node:events'
import { type IncomingMessage, request } from 'node:http'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { expect } from 'vitest'
import WebSocket from 'ws'
import { authPayload, CHANNEL_PROTOCOL, type ServerFrame } from '../../node/agent/protocol.ts'
import type { Tracker } from '../../tracker/index.ts'
import { ADMIN, ENROLL, lessonCid, until } from './harness.ts'

/** An admin API answer: status and parsed JSON body (undefined when empty). */
export interface ApiAnswer {
  status: number
  // biome-ignore lint/suspicious/noExplicitAny: whatever JSON the API answers
  body: any
}

/** Calls `/api/v1<path>` over HTTP (`/health`, `/metrics` and `/api/…` paths as given). */
export async function http(
  t: Pick<Tracker, 'url'>,
  method: string,
  path: string,
  body?: unknown,
): Promise<ApiAnswer> {
  const url = path.startsWith('/api/') || path === '/health' || path === '/metrics' ? path : `/api/v1${path}`
  const res = await fetch(`${t.url}${url}`, {
    method,
    headers: {
      authorization: `Bearer ${ADMIN}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  const text = await res.text()
  const json = text === '' || !res.headers.get('content-type')?.includes('json') ? text : JSON.parse(text)
  return { status: res.status, body: text === '' ? undefined : json }
}

/** `GET /releases/:id`: the release, its stages and its counts. */
// biome-ignore lint/suspicious/noExplicitAny: whatever JSON the API answers
export async function releaseStatus(t: Tracker, id: string): Promise<any> {
  return (await http(t, 'GET', `/releases/${id}`)).body
}

/** Waits (a few seconds at most by default: the nodes answer at once) for a release to complete. */
export async function untilCompleted(t: Tracker, id: string, maxMs = 8_000): Promise<void> {
  await until(
    async () => (await releaseStatus(t, id)).release.status === 'completed',
    'release completed',
    maxMs,
  )
}

/** Creates a release of `lesson` v1, or of what `body` says, asserting it is taken (201); its id. */
export async function createRelease(t: Tracker, body: object): Promise<string> {
  const res = await http(t, 'POST', '/releases', { resource: 'lesson', version: 1, ...body })
  expect(res.status, JSON.stringify(res.body)).toBe(201)
  return res.body.id
}

/** Three stages behind manual gates: 25 %, 50 %, then all of the targets. */
export const THREE_MANUAL_STAGES = [
  { percent: 25, gate: 'manual' },
  { percent: 50, gate: 'manual' },
  { percent: 100, gate: 'manual' },
]

/** Registers and approves `slides` v1: another resource, to release on the same nodes. */
export async function approvedSlides(t: Tracker): Promise<void> {
  await http(t, 'POST', '/resources/slides/versions', {
    version: 1,
    manifestCid: lessonCid(9),
    size: 1,
    type: 'file',
  })
  await http(t, 'POST', '/resources/slides/versions/1/approve')
}

/** Value of a Prometheus gauge on `/metrics`. */
export async function metric(t: Tracker, name: string): Promise<number> {
  const { body } = await http(t, 'GET', '/metrics')
  const line = (body as string).split('\n').find((l) => l.startsWith(`${name} `))
  if (line === undefined) throw new Error(`no metric ${name}`)
  return Number(line.split(' ')[1])
}

/** An SSE subscription to `/api/v1/events`: the events received so far, in order. */
export interface EventStream {
  /** Each with the id it came with (`undefined` if none). */
  events: Array<{ type: string; data: Record<string, unknown>; id?: string }>
  /**
   * The last event id received, as EventSource keeps it (an id-only frame sets it too): what
   * it would send as `Last-Event-ID` on reconnecting.
   */
  lastId(): string | undefined
  /** The last `retry:` hint received. */
  retryMs(): number | undefined
  /** Whether the stream has ended (the tracker closed it, or {@link close} was called). */
  ended(): boolean
  close(): void
}

/** Where {@link subscribe} connects, and how it resumes. */
export interface SubscribeOptions {
  /** Under `/api/v1`. @default '/events' */
  path?: string
  /** Sent as the `Last-Event-ID` header. */
  lastEventId?: string
}

/** Subscribes to the tracker's release events over HTTP; resolves once the stream is open. */
export async function subscribe(t: Tracker, opts: SubscribeOptions = {}): Promise<EventStream> {
  const headers: Record<string, string> = { authorization: `Bearer ${ADMIN}` }
  if (opts.lastEventId !== undefined) headers['last-event-id'] = opts.lastEventId
  const req = request(`${t.url}/api/v1${opts.path ?? '/events'}`, { headers })
  req.end()
  const [res] = (await once(req, 'response')) as [IncomingMessage]
  if (res.statusCode !== 200) throw new Error(`events → ${res.statusCode}`)
  const events: EventStream['events'] = []
  let lastId: string | undefined
  let retryMs: number | undefined
  let buf = ''
  res.setEncoding('utf8')
  res.on('data', (chunk: string) => {
    buf += chunk
    for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
      const block = buf.slice(0, i)
      buf = buf.slice(i + 2)
      const type = /^event: (.*)$/m.exec(block)?.[1]
      const data = /^data: (.*)$/m.exec(block)?.[1]
      const id = /^id: (.*)$/m.exec(block)?.[1]
      const retry = /^retry: (\d+)$/m.exec(block)?.[1]
      if (id !== undefined) lastId = id
      if (retry !== undefined) retryMs = Number(retry)
      if (type !== undefined && data !== undefined) events.push({ type, data: JSON.parse(data), id })
    }
  })
  res.on('error', () => {}) // ends with an abort when closed
  let ended = false
  res.on('close', () => {
    ended = true
  })
  // destroyed, not aborted politely: the tracker must not wait for this connection to close
  return {
    events,
    lastId: () => lastId,
    retryMs: () => retryMs,
    ended: () => ended,
    close: () => req.destroy(),
  }
}

/** A bare node on the channel: every frame it got, and how its connection ended. */
export interface BareNode {
  ws: WebSocket
  frames: ServerFrame[]
  closed: Promise<number>
  /** Commands received, in order. */
  cmds(): Array<Extract<ServerFrame, { t: 'cmd' }>['cmd']>
  /** Resolves once everything the tracker sent before now has arrived (frames are ordered). */
  settled(): Promise<void>
}

/**
 * Connects as `nodeId` with `key`, enrolling in `campus` if the key is not bound yet, with
 * `lastSeq` 0. It never ACKs: the tracker keeps its commands unACKed (and retransmits them).
 * With `enroll: false` its hello carries no enrollment, as a node started without a token.
 */
export async function bareNode(
  url: string,
  key: PrivateKey,
  nodeId: string,
  campus = 'bj-1',
  opts: { enroll?: boolean; token?: string } = {},
): Promise<BareNode> {
  const ws = new WebSocket(url, CHANNEL_PROTOCOL)
  const frames: ServerFrame[] = []
  const peerId = peerIdFromPrivateKey(key).toString()
  const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)))
  ws.on('message', async (data) => {
    const f = JSON.parse(data.toString()) as ServerFrame
    frames.push(f)
    if (f.t === 'challenge') {
      const sig = Buffer.from(await key.sign(authPayload(f.nonce, peerId))).toString('base64url')
      const enroll = opts.enroll === false ? undefined : { token: opts.token ?? ENROLL, nodeId, campus }
      ws.send(JSON.stringify({ t: 'hello', peerId, sig, lastSeq: 0, enroll }))
    }
  })
  return {
    ws,
    frames,
    closed,
    cmds: () => frames.flatMap((f) => (f.t === 'cmd' ? [f.cmd] : [])),
    async settled() {
      ws.ping()
      await once(ws, 'pong')
    },
  }
}
