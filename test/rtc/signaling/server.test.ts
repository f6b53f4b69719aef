import { getEventListeners } from 'node:events'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterEach, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { NullProvider } from '../../../rtc/provider.ts'
import { DEFAULT_LIMITS } from '../../../rtc/room/reducer.ts'
import type { SignalingClient } from '../../../rtc/signaling/client.ts'
import type { DeviceCommand } from '../../../rtc/signaling/messages.ts'
import { type Harness, spawn } from './harness.ts'

let h: Harness
afterEach(async () => {
  await h?.teardown()
})

/** Opens a raw socket, sends `frames`, collects replies until closed or `until` matches. */
function raw(
  url: string,
  frames: Array<string | Buffer>,
): Promise<{ code: number; reason: string; replies: string[] }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url)
    const replies: string[] = []
    ws.on('open', () => {
      for (const f of frames) ws.send(f)
    })
    ws.on('message', (d) => replies.push(String(d)))
    ws.on('close', (code, reason) => resolve({ code, reason: String(reason), replies }))
  })
}

/** A provider that answers every publish offer, so the server's publish rule is what decides. */
class AnsweringProvider extends NullProvider {
  override async publish(): Promise<string> {
    return 'v=0'
  }
}

/** Offers to publish: 'answered', or the code of the error the server replied with. */
async function tryPublish(c: SignalingClient): Promise<string> {
  const answer = c.next('publish-answer').then(() => 'answered')
  const error = c.next('error').then((e) => e.code)
  c.send({ type: 'publish', sdp: 'v=0' })
  return Promise.race([answer, error])
}

/** The next error code `c` is sent. */
function nextError(c: SignalingClient): Promise<string> {
  return new Promise((r) => c.once('error', (e) => r(e.code)))
}

describe('authentication and limits', () => {
  it('refuses missing and bad tokens with a reason', async () => {
    h = await spawn()
    const missing = await raw(h.wsUrl, ['{"type":"ping"}'])
    expect(missing.code).toBe(4400)
    const forged = await raw(h.wsUrl, [JSON.stringify({ type: 'hello', token: 'abc.def' })])
    expect(forged.code).toBe(4401)
    expect(forged.reason).toMatch(/^ERR_INVALID_TOKEN: bad token signature/)
    const notJson = await raw(h.wsUrl, ['hello?'])
    expect(notJson.code).toBe(4400)
  })

  it('refuses a student beyond the room capacity', async () => {
    h = await spawn()
    await h.join('t', 'teacher', { room: 'one', kind: 'one-on-one' })
    await h.join('s1', 'student', { room: 'one' })
    const third = await raw(h.wsUrl, [
      JSON.stringify({ type: 'hello', token: h.token('s2', 'student', 'one') }),
    ])
    expect(third.code).toBe(4409)
    expect(third.reason).toMatch(/^ERR_ROOM_FULL/)
  })

  it('survives malformed messages and keeps the connection', async () => {
    h = await spawn()
    const t = await h.join('t', 'teacher')
    const errors: string[] = []
    t.on('error', (e) => errors.push(e.code))
    const junk = ['{', '{"type":"action","action":"x"}', '[]', 'null', '{"type":"control","id":"1"}', '"x"']
    for (const j of junk) (t as unknown as { socket: WebSocket }).socket.send(j)
    ;(t as unknown as { socket: WebSocket }).socket.send(Buffer.from([1, 2, 3]), { binary: true })
    t.send({ type: 'ping' })
    await t.next('pong')
    expect(errors).toHaveLength(junk.length + 1)
    expect(new Set(errors)).toEqual(new Set(['ERR_MALFORMED_MESSAGE']))
    // rule violations answer with their code and change nothing
    t.action('hand.raise')
    const err = await new Promise<string>((r) => t.once('error', (e) => r(e.code)))
    expect(err).toBe('ERR_FORBIDDEN')
    const s = await h.join('s', 'student')
    expect(Object.keys(s.state!.participants).sort()).toEqual(['s', 't'])
  })
  it('closes a client that floods the server, which keeps serving others', async () => {
    h = await spawn()
    const t = await h.join('t', 'teacher')
    const flood = await raw(h.wsUrl, [
      JSON.stringify({ type: 'hello', token: h.token('s', 'student') }),
      ...Array.from({ length: 400 }, () => '{"type":"ping"}'),
    ])
    expect(flood.code).toBe(4429)
    expect(flood.reason).toMatch(/^ERR_RATE_LIMITED/)
    t.send({ type: 'ping' })
    await t.next('pong')
  })
})

describe('room flow', () => {
  it('runs a call and a hand queue, hiding parents from students', async () => {
    h = await spawn()
    const t = await h.join('t', 'teacher', { room: 'c', kind: 'class' })
    const a = await h.join('a', 'student', { room: 'c' })
    const b = await h.join('b', 'student', { room: 'c' })
    await h.join('mum', 'parent', { room: 'c' })
    t.action('call.initiate', { callId: 'k1', callee: 'a' })
    await a.waitFor((s) => s.call?.status === 'initiating')
    a.action('call.ringing', { callId: 'k1' })
    a.action('call.accept', { callId: 'k1' })
    await t.waitFor((s) => s.call?.status === 'accepted')
    b.action('hand.raise')
    a.action('hand.raise')
    await t.waitFor((s) => s.hands.length === 2)
    expect(t.state!.hands.map((x) => x.user)).toEqual(['b', 'a'])
    t.action('hand.accept', { user: 'b' })
    await a.waitFor((s) => s.stage.includes('b'))
    expect(a.state!.participants.mum).toBeUndefined()
    expect(t.state!.participants.mum?.hidden).toBe(true)
    expect(a.state).toEqual({ ...h.server.room('c')!.state, participants: a.state!.participants })
  })

  it('only lets the parties of a call report it connected', async () => {
    h = await spawn()
    const t = await h.join('t', 'teacher', { room: 'c', kind: 'class' })
    const a = await h.join('a', 'student', { room: 'c' })
    const b = await h.join('b', 'student', { room: 'c' })
    const mum = await h.join('mum', 'parent', { room: 'c' })
    t.action('call.initiate', { callId: 'k1', callee: 'a' })
    await a.waitFor((s) => s.call?.status === 'initiating')
    a.action('call.accept', { callId: 'k1' })
    await t.waitFor((s) => s.call?.status === 'accepted')
    for (const outsider of [mum, b]) {
      const refused = nextError(outsider)
      outsider.action('call.connected', { callId: 'k1' })
      expect(await refused).toBe('ERR_FORBIDDEN')
    }
    expect(h.server.room('c')!.state.call?.status).toBe('accepted')
    a.action('call.connected', { callId: 'k1' })
    await t.waitFor((s) => s.call?.status === 'in-call')
  })

  it('cancels a wait for room state, and a settled wait leaves no listener behind', async () => {
    h = await spawn()
    const t = await h.join('t', 'teacher', { room: 'c', kind: 'class' })
    const a = await h.join('a', 'student', { room: 'c' })
    const page = new AbortController()
    const never = t.waitFor((s) => s.hands.length === 5, { signal: page.signal })
    page.abort(new Error('page closed'))
    await expect(never).rejects.toThrow('page closed')
    await expect(t.waitFor(() => false, { signal: page.signal })).rejects.toThrow('page closed')
    // one long-lived signal across many waits (a lamp's session): nothing accumulates on it
    const session = new AbortController()
    for (let n = 1; n <= 12; n++) {
      const raised = t.waitFor((s) => s.hands.length === n % 2, { signal: session.signal })
      a.action(n % 2 === 1 ? 'hand.raise' : 'hand.lower')
      await raised
    }
    expect(getEventListeners(session.signal, 'abort')).toHaveLength(0)
    expect(t.listenerCount('event')).toBe(0)
  })

  it("keeps clients' copies in step with a server running custom limits", async () => {
    h = await spawn({ limits: { ...DEFAULT_LIMITS, handTimeoutMs: 200, ringTimeoutMs: 200 } })
    const t = await h.join('t', 'teacher', { room: 'c', kind: 'class' })
    const a = await h.join('a', 'student', { room: 'c' })
    a.action('hand.raise')
    await t.waitFor((s) => s.hands.length === 1)
    t.action('call.initiate', { callId: 'k1', callee: 'a' })
    await a.waitFor((s) => s.call?.status === 'initiating')
    // the server lowers the hand and times the call out by its own limits; the clients follow
    const server = () => h.server.room('c')!.state
    await t.waitFor((s) => s.hands.length === 0 && s.call?.status === server().call?.status)
    await a.waitFor((s) => s.hands.length === 0)
    expect(server().hands).toEqual([])
    expect(t.state!.call).toEqual(server().call)
    expect(a.state!.call?.ringDeadline).toBe(server().call?.ringDeadline)
  })

  it('resumes a dropped client with the events it missed', async () => {
    // the drop announced at once, so the teacher knows when the student is away
    h = await spawn({ presenceDelayMs: 0 })
    const t = await h.join('t', 'teacher', { room: 'c', kind: 'class' })
    const s = await h.join('s', 'student', { room: 'c' })
    const other = await h.join('o', 'student', { room: 'c' })
    const session = s.session
    s.drop()
    await t.waitFor((st) => st.participants.s?.connected === false)
    other.action('hand.raise')
    await t.waitFor((st) => st.hands.length === 1)
    t.action('stage.invite', { user: 's' })
    await t.waitFor((st) => st.stage.includes('s'))
    const seen: string[] = []
    s.on('event', ({ event }) => seen.push(event.type))
    await s.waitFor((st) => st.participants.s?.connected === true && st.stage.includes('s'))
    expect(s.session).toBe(session)
    expect(seen.slice(0, 3)).toEqual(['presence', 'hand.raise', 'stage.invite'])
    expect(s.state).toEqual(h.server.room('c')!.state)
  })

  it('removes a participant whose grace period ran out', async () => {
    h = await spawn({ graceMs: 50 })
    const t = await h.join('t', 'teacher')
    const s = await h.join('s', 'student')
    s.close()
    await t.waitFor((st) => st.participants.s === undefined)
  })
})

describe('room kind', () => {
  it('lets the teacher, not the first student, name the kind of a class students opened', async () => {
    h = await spawn({}, new AnsweringProvider())
    // students arrive first, their tokens claiming a group: more than a group holds get in
    const students = []
    for (let i = 0; i < 8; i++)
      students.push(await h.join(`s${i}`, 'student', { room: 'math-7b', kind: 'group' }))
    const [s0] = students
    expect(h.server.room('math-7b')!.state.kind).toBe('pending')
    expect(await tryPublish(s0)).toBe('ERR_FORBIDDEN')
    const t = await h.join('t', 'teacher', { room: 'math-7b', kind: 'class' })
    expect(t.state!.kind).toBe('class')
    await s0.waitFor((st) => st.kind === 'class')
    expect(Object.keys(t.state!.participants)).toHaveLength(9)
    // class rules now: a student publishes only once on stage
    expect(await tryPublish(s0)).toBe('ERR_FORBIDDEN')
    t.action('stage.invite', { user: 's0' })
    await s0.waitFor((st) => st.stage.includes('s0'))
    expect(await tryPublish(s0)).toBe('answered')
    // the other order: a student's kind claim does not change the teacher's class
    await h.join('t2', 'teacher', { room: 'c2', kind: 'class' })
    const late = await h.join('late', 'student', { room: 'c2', kind: 'group' })
    expect(late.state!.kind).toBe('class')
    expect(await tryPublish(late)).toBe('ERR_FORBIDDEN')
  })

  it('undoes a publish set up while its student was taken off stage', async () => {
    // the media side takes its time to answer, as a real SFU negotiating does
    const gate = Promise.withResolvers<void>()
    const unpublished: string[] = []
    class SlowProvider extends NullProvider {
      override async publish(): Promise<string> {
        await gate.promise
        return 'v=0'
      }
      // NullProvider declares it without parameters: (room, user)
      override async unpublish(...args: unknown[]): Promise<void> {
        unpublished.push(String(args[1]))
      }
    }
    h = await spawn({}, new SlowProvider())
    const t = await h.join('t', 'teacher', { room: 'c', kind: 'class' })
    const s = await h.join('s', 'student', { room: 'c' })
    t.action('stage.invite', { user: 's' })
    await s.waitFor((st) => st.stage.includes('s'))
    const publishing = tryPublish(s)
    t.action('stage.remove', { user: 's' })
    await s.waitFor((st) => !st.stage.includes('s'))
    const before = unpublished.length // the stage change's own unpublish, with nothing to remove yet
    gate.resolve()
    expect(await publishing).toBe('ERR_FORBIDDEN')
    expect(unpublished.length).toBeGreaterThan(before)
    expect(unpublished.at(-1)).toBe('s')
  })

  it('sends the latest early students away when the teacher names a smaller kind', async () => {
    h = await spawn({}, new AnsweringProvider())
    const students = []
    for (let i = 0; i < 8; i++) students.push(await h.join(`s${i}`, 'student', { room: 'g', kind: 'class' }))
    const refused = students
      .slice(6)
      .map((c) => new Promise<{ code: number; reason: string }>((r) => c.once('closed', r)))
    const t = await h.join('t', 'teacher', { room: 'g', kind: 'group' })
    for (const closed of await Promise.all(refused)) {
      expect(closed.code).toBe(4409)
      expect(closed.reason).toMatch(/^ERR_ROOM_FULL/)
    }
    expect(Object.keys(t.state!.participants).sort()).toEqual(['s0', 's1', 's2', 's3', 's4', 's5', 't'])
    expect(t.state).toEqual(h.server.room('g')!.state)
    await students[0].waitFor((st) => st.kind === 'group' && st.participants.s7 === undefined)
    expect(await tryPublish(students[0])).toBe('answered')
    const seventh = await raw(h.wsUrl, [
      JSON.stringify({ type: 'hello', token: h.token('s8', 'student', 'g') }),
    ])
    expect(seventh.code).toBe(4409)
  })
})

describe('shutdown', () => {
  it('starts no grace period for the sockets it closes, so nobody leaves after close', async () => {
    const left: string[] = []
    const provider = new (class extends NullProvider {
      override async leave(_room?: string, user?: string): Promise<void> {
        left.push(user ?? '')
      }
    })()
    h = await spawn({ graceMs: 50 }, provider)
    await h.join('t', 'teacher')
    await h.join('s', 'student')
    await h.server.close()
    // well past the grace period: a timer started by close() would have fired by now
    await sleep(200)
    expect(left).toEqual([])
  })
})

describe('device controls', () => {
  it('retransmits until ACKed, runs each control once and dedups repeats', async () => {
    h = await spawn()
    const runs: DeviceCommand[] = []
    let dropFirst = true
    const t = await h.join('t', 'teacher')
    const lamp = await h.join('lamp', 'student', {
      onControl: async (command) => {
        runs.push(command)
        return { ok: true }
      },
    })
    // the lamp loses its first delivery: its connection drops before it can ACK
    const socket = (lamp as unknown as { socket: WebSocket }).socket
    socket.prependListener('message', (d) => {
      if (dropFirst && String(d).includes('"type":"control"')) {
        dropFirst = false
        socket.removeAllListeners('message')
        lamp.drop()
      }
    })
    const ack = await t.control('lamp', { kind: 'camera', camera: 'desk' }, { id: 'ctl-1' })
    expect(ack.ok).toBe(true)
    expect(runs).toEqual([{ kind: 'camera', camera: 'desk' }])
    await t.waitFor((s) => s.participants.lamp.camera === 'desk')
    // the teacher repeats the same id (e.g. after its own reconnect): same ACK, no second run
    const again = await t.control('lamp', { kind: 'camera', camera: 'desk' }, { id: 'ctl-1' })
    expect(again.ok).toBe(true)
    expect(runs).toHaveLength(1)
  })

  it('reports a control the device never ACKs', async () => {
    h = await spawn({ controlRetryMs: 10, controlMaxAttempts: 3 })
    const t = await h.join('t', 'teacher')
    const lamp = await h.join('lamp', 'student', { onControl: () => new Promise(() => {}) })
    const ack = await t.control('lamp', { kind: 'mute', muted: true })
    expect(ack).toEqual({ ok: false, error: 'ERR_CONTROL_TIMEOUT' })
    expect(lamp.state!.participants.lamp.muted).toBe(false)
  })

  it('sends no control whose signal was already aborted', async () => {
    h = await spawn()
    const t = await h.join('t', 'teacher')
    const runs: DeviceCommand[] = []
    await h.join('lamp', 'student', {
      onControl: async (c) => {
        runs.push(c)
        return { ok: true }
      },
    })
    const cancelled = AbortSignal.abort(new Error('teacher changed their mind'))
    await expect(t.control('lamp', { kind: 'mute', muted: true }, { signal: cancelled })).rejects.toThrow(
      'teacher changed their mind',
    )
    // a control sent after it goes through, and is the only one the lamp ran
    expect((await t.control('lamp', { kind: 'camera', camera: 'desk' })).ok).toBe(true)
    expect(runs).toEqual([{ kind: 'camera', camera: 'desk' }])
  })

  it('only lets the teacher send controls', async () => {
    h = await spawn()
    await h.join('t', 'teacher')
    const s = await h.join('s', 'student')
    s.send({ type: 'control', id: 'x', target: 't', command: { kind: 'mute', muted: true } })
    const err = await new Promise<string>((r) => s.once('error', (e) => r(e.code)))
    expect(err).toBe('ERR_FORBIDDEN')
  })
  it("sends device controls to students' lamps only: a hidden parent is never named to the class", async () => {
    h = await spawn()
    const t = await h.join('t', 'teacher', { room: 'c', kind: 'class' })
    // the parent watches from a lamp app, which applies controls like a student's
    const applies = { onControl: async () => ({ ok: true }) }
    const s = await h.join('s', 'student', { room: 'c', ...applies })
    await h.join('mum', 'parent', { room: 'c', ...applies })
    await t.waitFor((st) => st.participants.mum !== undefined)
    const events: string[] = []
    s.on('event', ({ event }) => {
      if ('by' in event && event.by === 'mum') events.push(event.type)
    })
    const refusal = (): Promise<string> =>
      Promise.race([
        new Promise<string>((r) => t.once('error', (e) => r(e.code))),
        new Promise<string>((r) => setTimeout(() => r('no refusal'), 3_000)),
      ])
    // before: relayed to the parent's client, whose ACK told every student who watched
    t.send({ type: 'control', id: 'p1', target: 'mum', command: { kind: 'mute', muted: true } })
    expect(await refusal()).toBe('ERR_FORBIDDEN')
    // nor a teacher's own client
    t.send({ type: 'control', id: 't1', target: 't', command: { kind: 'mute', muted: true } })
    expect(await refusal()).toBe('ERR_FORBIDDEN')
    expect((await t.control('s', { kind: 'mute', muted: true })).ok).toBe(true)
    expect(events).toEqual([])
  })
})
