/**
 * A client whose connection blips and comes back within the presence delay (`PRESENCE_DELAY_MS`,
 * 5 s) is not announced at all: nobody hears `presence`. Before, every drop was broadcast at once
 * as `presence connected:false` and the return as `connected:true`: in a class of 200 whose Wi-Fi
 * blips, 400 events to 200 clients, and more than the resume log holds. A drop that lasts is still
 * announced once it has lasted the delay, and a client gone for good leaves without a presence.
 */
import { describe, expect, it } from 'vitest'
import { SignalingClient } from '../../../rtc/signaling/client.ts'
import { type Harness, harnessPerTest } from './harness.ts'

const { spawn, closeAfter } = harnessPerTest()

const STUDENTS = 40

/** A class of a teacher and {@link STUDENTS} students; `presences` lists what each client heard. */
async function classroom(h: Harness) {
  const teacher = await h.join('t', 'teacher', { room: 'c', kind: 'class' })
  const students: SignalingClient[] = []
  for (let i = 0; i < STUDENTS; i++) students.push(await h.join(`s${i}`, 'student', { room: 'c' }))
  const presences: string[] = []
  for (const c of [teacher, ...students])
    c.on('event', ({ event }) => {
      if (event.type === 'presence') presences.push(`${c.user} heard ${event.user} ${event.connected}`)
    })
  return { teacher, students, presences, everyone: [teacher, ...students] }
}

/** A student's client in the class that does not reconnect by itself: the test connects it. */
const studentClient = (h: Harness, user: string): SignalingClient =>
  closeAfter(new SignalingClient({ url: h.wsUrl, token: h.token(user, 'student', 'c'), reconnect: false }))

/** Waits until every client has applied event `seq`: all messages sent before it have arrived. */
async function settled(clients: SignalingClient[], seq: number): Promise<void> {
  const signal = AbortSignal.timeout(5_000)
  await Promise.all(clients.map((c) => c.waitFor(() => c.seq >= seq, { signal })))
}

describe('presence across a reconnect', () => {
  it('says nothing to the class of a student whose connection blipped', async () => {
    const h = await spawn({ graceMs: 30_000 })
    const { students, presences, everyone } = await classroom(h)
    const [blip] = students
    const session = blip.session
    const back = blip.next('welcome', { signal: AbortSignal.timeout(5_000) })
    // the socket dies without a close frame, as on a Wi-Fi blip; the client resumes on its own
    blip.drop()
    expect((await back).resumed).toBe(true)
    expect(blip.session).toBe(session)
    // a marker event after the return: once everyone has it, anything sent before it has arrived
    blip.action('hand.raise')
    await blip.waitFor((st) => st.hands.length === 1, { signal: AbortSignal.timeout(2_000) })
    await settled(everyone, h.server.room('c')!.seq)
    // before: "t heard s0 false", "t heard s0 true" and the same for each of the 39 classmates
    expect(presences).toEqual([])
    expect(h.server.room('c')!.state.participants.s0.connected).toBe(true)
  })

  it('says nothing when a client resumes over a connection the server still took for live', async () => {
    const h = await spawn({ graceMs: 30_000 })
    const { students, presences, everyone } = await classroom(h)
    const [old] = students
    // the lamp's link died without the server noticing; its app resumes on a new connection
    const resumed = studentClient(h, 's0')
    resumed.session = old.session
    resumed.seq = old.seq
    const replaced = new Promise<number>((r) => old.once('closed', ({ code }) => r(code)))
    await resumed.connect()
    expect(await replaced).toBe(4410)
    resumed.action('hand.raise')
    await resumed.waitFor((st) => st.hands.length === 1, { signal: AbortSignal.timeout(2_000) })
    await settled([resumed, ...everyone.filter((c) => c !== old)], h.server.room('c')!.seq)
    // before: presence false, then true, to the whole class
    expect(presences).toEqual([])
  })

  it('announces a drop once it has lasted the delay, and the return', async () => {
    const h = await spawn({ graceMs: 30_000, presenceDelayMs: 200 })
    const { teacher, presences, everyone } = await classroom(h)
    const away = studentClient(h, 'lamp')
    await away.connect()
    await teacher.waitFor((st) => st.participants.lamp !== undefined, { signal: AbortSignal.timeout(2_000) })
    away.drop()
    await teacher.waitFor((st) => st.participants.lamp?.connected === false, {
      signal: AbortSignal.timeout(2_000),
    })
    await away.connect()
    await teacher.waitFor((st) => st.participants.lamp?.connected === true, {
      signal: AbortSignal.timeout(2_000),
    })
    await settled(everyone, h.server.room('c')!.seq)
    expect(presences.filter((p) => p.startsWith('t '))).toEqual(['t heard lamp false', 't heard lamp true'])
    expect(presences).toHaveLength(2 * everyone.length)
  })

  it('makes a client gone for good leave without first announcing it away', async () => {
    const h = await spawn({ graceMs: 300 })
    const { teacher, presences, everyone } = await classroom(h)
    const events: string[] = []
    teacher.on('event', ({ event }) => {
      if ('user' in event && event.user === 'lamp') events.push(event.type)
    })
    const gone = studentClient(h, 'lamp')
    await gone.connect()
    gone.drop()
    await teacher.waitFor((st) => st.participants.lamp === undefined && events.includes('leave'), {
      signal: AbortSignal.timeout(3_000),
    })
    await settled(everyone, h.server.room('c')!.seq)
    // before: join, presence (to all 41), leave
    expect(events).toEqual(['join', 'leave'])
    expect(presences).toEqual([])
  })
})
