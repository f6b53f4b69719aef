/**
 * The tracker signs each node a statement of its campus membership (`node/membership.ts`)
 * on its channel: in the welcome, then whenever the inventory moves it (its campus, or its
 * campus's city) or the last one is a day old. Only to nodes whose hello asked for it: an
 * older agent drops the connection on a frame type it does not know.
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { TrackerSigner } from '../../node/agent/tracker-auth.ts'
import { checkMembership, MEMBERSHIP_TTL_MS, type SignedMembership } from '../../node/membership.ts'
import {
  MEMBERSHIP_MAX_PER_CHECK,
  MEMBERSHIP_REFRESH_AFTER_MS,
  MembershipIssuer,
  type MembershipSession,
} from '../../tracker/channel/membership.ts'
import type { Tracker } from '../../tracker/index.ts'
import { Inventory } from '../../tracker/state/inventory.ts'
import { Harness, until } from './harness.ts'
import { bareNode } from './wire.ts'

const h = new Harness()
afterEach(async () => {
  vi.useRealTimers()
  await h.teardown()
})

/** A seeded tracker checking its nodes' statements every 50 ms. */
async function tracker(): Promise<Tracker> {
  const t = await h.tracker({ membershipCheckIntervalMs: 50 })
  await h.seed(t)
  return t
}

const believed = (t: Tracker, peerId: string, m: SignedMembership | undefined) =>
  checkMembership(m, { peerId, trusted: new Set([t.trackerId]) })

describe('campus membership statements on the channel', () => {
  it('an agent is welcomed with a statement of its campus and city, signed for its PeerId', async () => {
    const t = await tracker()
    const { agent } = await h.agent([t.channelUrl], 'n0', { campus: 'bj-1' })
    await until(() => agent.membership !== undefined, 'a statement')
    const c = believed(t, agent.peerId, agent.membership)
    expect(c.ok).toBe(true)
    if (!c.ok) return
    expect(c.membership).toMatchObject({
      peerId: agent.peerId,
      nodeId: 'n0',
      campus: 'bj-1',
      city: 'bj',
      tracker: t.trackerId,
    })
    expect(c.membership.expiresAt - c.membership.issuedAt).toBe(MEMBERSHIP_TTL_MS)
    // not believed of another peer
    const other = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
    expect(believed(t, other, agent.membership)).toEqual({ ok: false, why: 'other-peer' })
  })

  it('a node moved to another campus, or whose campus moved city, gets a fresh statement on its connection', async () => {
    const t = await tracker()
    const { agent } = await h.agent([t.channelUrl], 'n0', { campus: 'bj-1' })
    await until(() => agent.membership !== undefined, 'the first statement')
    const got: SignedMembership[] = []
    agent.on('membership', (m) => got.push(m))
    let dropped = 0
    agent.on('disconnected', () => dropped++)

    await h.api(t, 'PATCH', '/nodes/n0', { campus: 'sh-1' })
    await until(() => got.some((m) => m.m.campus === 'sh-1'), 'a statement naming the new campus')
    const moved = believed(t, agent.peerId, got.at(-1))
    expect(moved.ok && moved.membership).toMatchObject({ nodeId: 'n0', campus: 'sh-1', city: 'sh' })

    // its campus re-assigned to another city: the city its statement names follows
    await h.api(t, 'POST', '/campuses', { id: 'sh-1', city: 'bj', name: 'SH one, now in Beijing' })
    await until(() => got.at(-1)?.m.city === 'bj', 'a statement naming the new city')
    expect(believed(t, agent.peerId, got.at(-1)).ok).toBe(true)
    expect(got.at(-1)?.m.campus).toBe('sh-1')
    expect(agent.membership).toEqual(got.at(-1))
    expect(dropped).toBe(0)
  })

  it('a node that does not name the feature (an older agent) gets no statement and no new frame type', async () => {
    const t = await tracker()
    const old = await bareNode(t.channelUrl, await generateKeyPair('Ed25519'), 'old0', 'bj-1')
    const { agent } = await h.agent([t.channelUrl], 'n0', { campus: 'bj-1' })
    await until(() => old.frames.some((f) => f.t === 'welcome') && agent.membership !== undefined, 'welcomed')
    await h.api(t, 'PATCH', '/nodes/old0', { campus: 'sh-1' })
    await h.api(t, 'PATCH', '/nodes/n0', { campus: 'sh-1' })
    // a check has run since both moved: the agent has its new statement...
    await until(() => agent.membership?.m.campus === 'sh-1', 'the agent re-stated')
    // ...and anything sent to the old node before then has arrived
    await old.settled()
    expect(old.frames.map((f) => f.t)).toEqual(['challenge', 'welcome'])
    expect(old.frames[1]).not.toHaveProperty('membership')
    expect(t.channel.isConnected('old0')).toBe(true)
  })

  it('a statement a day old is replaced before it expires', async () => {
    const t = await tracker()
    const { agent } = await h.agent([t.channelUrl], 'n0', { campus: 'bj-1' })
    await until(() => agent.membership !== undefined, 'the first statement')
    const first = agent.membership as SignedMembership
    // only Date moves: the channel's timers and sockets run as ever
    vi.useFakeTimers({ toFake: ['Date'] })
    vi.setSystemTime(Date.now() + MEMBERSHIP_REFRESH_AFTER_MS + 60_000)
    await until(() => agent.membership !== first, 'a new statement')
    const c = believed(t, agent.peerId, agent.membership)
    expect(c.ok && c.membership.issuedAt).toBeGreaterThanOrEqual(
      first.m.issuedAt + MEMBERSHIP_REFRESH_AFTER_MS,
    )
    expect(c.ok && c.membership.campus).toBe('bj-1')
  })
})

describe('MembershipIssuer', () => {
  /** An inventory of `n` nodes in campus c1 (city x), each bound to a PeerId, and their sessions. */
  async function fixture(n: number) {
    const inv = new Inventory()
    inv.apply('city!x', { id: 'x', name: 'X' })
    inv.apply('city!y', { id: 'y', name: 'Y' })
    inv.apply('campus!c1', { id: 'c1', city: 'x', name: 'C1' })
    inv.apply('campus!c2', { id: 'c2', city: 'y', name: 'C2' })
    const sessions: MembershipSession[] = []
    for (let i = 0; i < n; i++) {
      const peerId = `peer-${i}`
      inv.apply(`node!n${i}`, { id: `n${i}`, campus: 'c1', labels: [], peerId })
      sessions.push({ nodeId: `n${i}`, peerId })
    }
    const issuer = new MembershipIssuer({
      inventory: () => inv,
      signer: new TrackerSigner(await generateKeyPair('Ed25519')).membership,
    })
    return { inv, sessions, issuer }
  }

  it('re-states only the nodes moved or stated a day ago, at most MEMBERSHIP_MAX_PER_CHECK a check', async () => {
    const { inv, sessions, issuer } = await fixture(5_000)
    const now = Date.now()
    // all are due once (never stated), in batches
    let batches = 0
    let total = 0
    for (;;) {
      const n = [...issuer.due(sessions, now)].length
      if (n === 0) break
      expect(n).toBeLessThanOrEqual(MEMBERSHIP_MAX_PER_CHECK)
      total += n
      batches++
    }
    expect(total).toBe(5_000)
    expect(batches).toBe(Math.ceil(5_000 / MEMBERSHIP_MAX_PER_CHECK))
    // nothing changed: nothing to sign
    expect([...issuer.due(sessions, now + 1000)]).toEqual([])
    // n0 moved to campus c2; campus c1 (the others) moved to city y
    inv.apply('node!n0', { id: 'n0', campus: 'c2', labels: [], peerId: 'peer-0' })
    inv.apply('campus!c1', { id: 'c1', city: 'y', name: 'C1' })
    const due = [...issuer.due(sessions.slice(0, 3), now + 2000)]
    expect(due.map(([s, m]) => [s.nodeId, m.m.campus, m.m.city])).toEqual([
      ['n0', 'c2', 'y'],
      ['n1', 'c1', 'y'],
      ['n2', 'c1', 'y'],
    ])
    // a day on, each is due again
    const later = now + MEMBERSHIP_REFRESH_AFTER_MS + 2000
    expect([...issuer.due(sessions.slice(0, 10), later)]).toHaveLength(10)
  })

  it('states nothing of a node deleted or bound to another PeerId since', async () => {
    const { inv, sessions, issuer } = await fixture(2)
    inv.apply('node!n0', undefined)
    inv.apply('node!n1', { id: 'n1', campus: 'c1', labels: [], peerId: 'another-peer' })
    expect([...issuer.due(sessions)]).toEqual([])
    expect(issuer.issue(sessions[0])).toBeUndefined()
  })
})
