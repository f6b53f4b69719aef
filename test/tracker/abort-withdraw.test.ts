/**
 * Aborting a release withdraws what it has not delivered: a `place` still waiting, unACKed,
 * for a node that is offline is taken out of its outbox, so the node never gets the aborted
 * version when it comes back, days later maybe; nodes keep what they got. A real tracker on
 * a level store, real agents with journals on disk, the channel over loopback.
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { afterEach, describe, expect, it, vi } from 'vitest'
import WebSocket, { WebSocketServer } from 'ws'
import { CHANNEL_PROTOCOL } from '../../node/agent/protocol.ts'
import { runReleaseCommand } from '../../tracker/cli.ts'
import type { Tracker } from '../../tracker/index.ts'
import type { MemoryContent } from '../node/agent/memory-content.ts'
import { captureOutput } from './cli-output.ts'
import { ADMIN, Harness, lessonCid, until } from './harness.ts'
import { approvedSlides, bareNode, createRelease, http, releaseStatus, untilCompleted } from './wire.ts'

const h = new Harness()
afterEach(async () => {
  vi.restoreAllMocks()
  await h.teardown()
})

/** The tracker on `dataDir` again, on the port it had (its agents reconnect by themselves). */
async function restart(t: Tracker, dataDir: string): Promise<Tracker> {
  await t.close()
  return h.tracker({ dataDir, port: Number(new URL(t.url).port) })
}

/** `n1` started again on its journal directory, key and content: the same node back online. */
function startAgain(t: Tracker, n1: Awaited<ReturnType<Harness['agent']>>, dir: string) {
  return h.agent([t.channelUrl], 'n1', { campus: 'bj-1', dir, key: n1.key, content: n1.content })
}

/** A node's state in a release, as `GET /releases/:id/nodes` shows it. */
// biome-ignore lint/suspicious/noExplicitAny: whatever JSON the API answers
async function nodeIn(t: Tracker, releaseId: string, nodeId: string): Promise<any> {
  const { body } = await http(t, 'GET', `/releases/${releaseId}/nodes`)
  return body.nodes.find((n: { nodeId: string }) => n.nodeId === nodeId)
}

/** Ids of the commands an agent applied, in order. */
async function applied(n: { agent: { journal: { applied(): Promise<Array<{ id: string }>> } } }) {
  return (await n.agent.journal.applied()).map((a) => a.id)
}

const lessonOf = (n: { content: unknown }): string | undefined =>
  (n.content as MemoryContent).table.get('lesson')

/**
 * A relay between one agent and the tracker that loses the first ACK the agent sends and
 * cuts the connection there, as a network failure just after the node recorded a command
 * would (the agent records it before it ACKs). It takes no connection after that.
 */
async function ackLosingRelay(target: string): Promise<{ url: string; cut: Promise<void> }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, handleProtocols: () => CHANNEL_PROTOCOL })
  await new Promise<void>((resolve) => wss.once('listening', resolve))
  let cut = false
  let onCut = (): void => {}
  const cutDone = new Promise<void>((resolve) => {
    onCut = resolve
  })
  wss.on('connection', (client) => {
    const upstream = new WebSocket(target, CHANNEL_PROTOCOL)
    const early: string[] = []
    upstream.on('open', () => {
      for (const text of early.splice(0)) upstream.send(text)
    })
    upstream.on('message', (data) => {
      if (!cut) client.send(data.toString())
    })
    upstream.on('close', () => client.terminate())
    upstream.on('error', () => client.terminate())
    client.on('close', () => upstream.terminate())
    client.on('message', (data) => {
      if (cut) return
      const text = data.toString()
      if ((JSON.parse(text) as { t: string }).t === 'ack') {
        // lost, and the link with it: nothing the node sends after reaches the tracker
        cut = true
        client.terminate()
        upstream.terminate()
        wss.close()
        onCut()
        return
      }
      if (upstream.readyState === WebSocket.OPEN) upstream.send(text)
      else early.push(text)
    })
  })
  const { port } = wss.address() as { port: number }
  return { url: `ws://127.0.0.1:${port}/channel`, cut: cutDone }
}

describe('aborting a release', () => {
  it('withdraws what waits for an offline node: it never gets it, after a tracker restart too, and online nodes keep what they got', async () => {
    const dataDir = await h.tmp()
    let t = await h.tracker({ dataDir })
    await h.seed(t)
    const n0 = await h.agent([t.channelUrl], 'n0', { campus: 'bj-1' })
    // n1 enrolls, then goes offline, its journal on disk
    const n1dir = await h.tmp()
    const n1 = await h.agent([t.channelUrl], 'n1', { campus: 'bj-1', dir: n1dir })
    await until(() => n0.agent.connected && n1.agent.connected, 'agents connected')
    await n1.agent.stop()
    await until(() => !t.channel.isConnected('n1'), 'n1 offline')
    // n2 is connected and receives its command, but has not ACKed it when the abort comes
    const n2 = await bareNode(t.channelUrl, await generateKeyPair('Ed25519'), 'n2')
    await until(() => n2.frames.some((f) => f.t === 'welcome'), 'n2 enrolled')

    const id = await createRelease(t, { version: 1, targets: { nodes: ['n0', 'n1', 'n2'] } })
    await until(async () => (await releaseStatus(t, id)).counts.active === 1, 'n0 active')
    await until(() => n2.cmds().length > 0, 'n2 received its command')
    expect((await http(t, 'POST', `/releases/${id}/abort`)).status).toBe(200)

    const s = await releaseStatus(t, id)
    expect(s.release.status).toBe('aborted')
    expect(s.counts).toMatchObject({ active: 1, pending: 1, withdrawn: 1, failed: 0 })
    expect(s.stages[0].counts).toMatchObject({ withdrawn: 1 })
    // neither failed nor done
    expect(s.release.result).toEqual({ outcome: 'partial', active: 1, failed: 0, timedOut: 0, withdrawn: 1 })
    expect((await http(t, 'GET', `/releases/${id}/nodes?state=withdrawn`)).body.nodes).toMatchObject([
      { nodeId: 'n1', state: 'withdrawn', withdrawnAt: expect.any(Number) },
    ])
    // out of n1's outbox; n2's, being sent over its live channel, stays
    expect([...t.state.outbox.entriesOf('n1')]).toEqual([])
    expect([...t.state.outbox.entriesOf('n2')].map((e) => e.cmd.releaseId)).toEqual([id])
    expect(await nodeIn(t, id, 'n2')).toMatchObject({ state: 'pending' })
    const { value, out } = await captureOutput(() =>
      runReleaseCommand(['status', id, '--tracker', t.url, '--token', ADMIN]),
    )
    expect(value).toBe(0)
    expect(out).toContain('aborted (partial: 1 active, 0 failed, 1 withdrawn)')

    // the tracker restarts before n1 comes back: the withdrawal was on disk with the abort
    n2.ws.close()
    t = await restart(t, dataDir)
    expect((await releaseStatus(t, id)).counts).toMatchObject({ active: 1, withdrawn: 1 })
    const back = await startAgain(t, n1, n1dir)
    await until(() => back.agent.connected && n0.agent.connected, 'n1 back, n0 reconnected')
    // a later command reaches n1 only after anything queued before it (one ordered channel)
    await approvedSlides(t)
    const slides = await createRelease(t, { resource: 'slides', version: 1, targets: { nodes: ['n1'] } })
    await untilCompleted(t, slides)

    // n1 got nothing of the aborted release: not in its journal, not fetched, not served
    expect(await applied(back)).toEqual([(await nodeIn(t, slides, 'n1')).cmdId])
    expect((n1.content as MemoryContent).calls).not.toContain(`fetch ${lessonCid(1)}`)
    expect(lessonOf(back)).toBeUndefined()
    expect(await nodeIn(t, id, 'n1')).toMatchObject({ state: 'withdrawn' })
    // nor does reconciliation send it later: an aborted release is no campus's version
    const resources = (await http(t, 'GET', '/nodes/n1/resources')).body as Array<{ resource: string }>
    expect(resources.map((r) => r.resource)).toEqual(['slides'])
    // n0 keeps what it got
    expect(lessonOf(n0)).toBe(lessonCid(1))
    expect(await nodeIn(t, id, 'n0')).toMatchObject({ state: 'active' })
  })

  it('records what a node did with a withdrawn command it had received (its ACK lost), never applying it twice', async () => {
    const t = await h.tracker({ dataDir: await h.tmp() })
    await h.seed(t)
    const n0 = await h.agent([t.channelUrl], 'n0', { campus: 'bj-1' })
    const relay = await ackLosingRelay(t.channelUrl)
    const n1dir = await h.tmp()
    const n1 = await h.agent([relay.url], 'n1', { campus: 'bj-1', dir: n1dir })
    await until(() => n0.agent.connected && n1.agent.connected, 'agents connected')

    const id = await createRelease(t, { version: 1, targets: { nodes: ['n0', 'n1'] } })
    // n1 records the place, its ACK is lost with the link, and it applies the place offline
    await relay.cut
    const cmdId = (await nodeIn(t, id, 'n1')).cmdId as string
    await until(async () => (await n1.agent.journal.get(cmdId))?.status === 'active', 'n1 applied it offline')
    await n1.agent.stop()
    await until(() => !t.channel.isConnected('n1'), 'n1 offline')
    await until(async () => (await releaseStatus(t, id)).counts.active === 1, 'n0 active')
    expect(await nodeIn(t, id, 'n1')).toMatchObject({ state: 'pending' })

    // as far as the tracker knows n1 never got it: the abort withdraws it
    expect((await http(t, 'POST', `/releases/${id}/abort`)).status).toBe(200)
    expect(await nodeIn(t, id, 'n1')).toMatchObject({ state: 'withdrawn', cmdId })

    // n1 comes back (its hello's lastSeq covers the command): asked, it answers from its
    // journal, and the tracker records what it did
    const back = await startAgain(t, n1, n1dir)
    await until(async () => (await nodeIn(t, id, 'n1'))?.state === 'active', 'n1 recorded active')
    const s = await releaseStatus(t, id)
    expect(s.counts).toMatchObject({ active: 2, withdrawn: 0, pending: 0, fetching: 0 })
    expect(s.release.result).toEqual({ outcome: 'succeeded', active: 2, failed: 0, timedOut: 0 })
    expect(await nodeIn(t, id, 'n1')).toMatchObject({ withdrawnAt: expect.any(Number) })
    expect(t.state.releases.currentOf('n1', 'lesson')).toEqual({
      version: 1,
      manifestCid: lessonCid(1),
      releaseId: id,
    })
    // applied once, fetched once, and nothing left to send it
    expect(await applied(back)).toEqual([cmdId])
    expect((n1.content as MemoryContent).calls.filter((c) => c === `fetch ${lessonCid(1)}`)).toHaveLength(1)
    expect([...t.state.outbox.entriesOf('n1')]).toEqual([])
    expect(back.agent.connected).toBe(true)
  })

  it('takes a later release of the resource to a withdrawn node, which lands; reconciliation keeps it on its campus’s version meanwhile', async () => {
    const t = await h.tracker({ dataDir: await h.tmp() })
    await h.seed(t)
    const n0 = await h.agent([t.channelUrl], 'n0', { campus: 'bj-1' })
    const n1dir = await h.tmp()
    const n1 = await h.agent([t.channelUrl], 'n1', { campus: 'bj-1', dir: n1dir })
    await until(() => n0.agent.connected && n1.agent.connected, 'agents connected')
    const r1 = await createRelease(t, { version: 1, targets: { campuses: ['bj-1'] } })
    await untilCompleted(t, r1)
    const [v1Cmd] = await applied(n1)

    await n1.agent.stop()
    await until(() => !t.channel.isConnected('n1'), 'n1 offline')
    const r2 = await createRelease(t, { version: 2, targets: { campuses: ['bj-1'] } })
    await until(async () => (await releaseStatus(t, r2)).counts.active === 1, 'n0 on v2')
    expect((await http(t, 'POST', `/releases/${r2}/abort`)).status).toBe(200)
    const withdrawnCmd = (await nodeIn(t, r2, 'n1')).cmdId as string
    expect(await nodeIn(t, r2, 'n1')).toMatchObject({ state: 'withdrawn' })

    const back = await startAgain(t, n1, n1dir)
    await until(() => back.agent.connected, 'n1 back')
    // what its campus runs is still r1's v1, which it runs: nothing to catch up on
    expect((await http(t, 'GET', '/nodes/n1/resources')).body).toMatchObject([
      { resource: 'lesson', desired: { version: 1, releaseId: r1 }, inSync: true },
    ])

    // a new release of the lesson to it is no overlap with the aborted one, and lands
    const r3 = await http(t, 'POST', '/releases', {
      resource: 'lesson',
      version: 2,
      targets: { nodes: ['n1'] },
    })
    expect(r3.status).toBe(201)
    await untilCompleted(t, r3.body.id)
    expect(lessonOf(back)).toBe(lessonCid(2))
    expect(await nodeIn(t, r3.body.id, 'n1')).toMatchObject({ state: 'active' })
    // the v1 it had and the new release's v2: never the aborted release's place
    const v2Cmd = (await nodeIn(t, r3.body.id, 'n1')).cmdId
    expect(await applied(back)).toEqual([v1Cmd, v2Cmd])
    expect(v2Cmd).not.toBe(withdrawnCmd)
    expect(await nodeIn(t, r2, 'n1')).toMatchObject({ state: 'withdrawn' })

    // it comes back once more, its `lastSeq` now past the withdrawn command's (the new
    // release's came after it): no sign that it ever got the withdrawn one, still never sent
    await back.agent.stop()
    await until(() => !t.channel.isConnected('n1'), 'n1 offline again')
    const again = await startAgain(t, n1, n1dir)
    await until(() => again.agent.connected, 'n1 back again')
    // commands land in order: one more release, once done, comes after anything replayed
    const r4 = await http(t, 'POST', '/releases', {
      resource: 'lesson',
      version: 1,
      targets: { nodes: ['n1'] },
    })
    expect(r4.status).toBe(201)
    await untilCompleted(t, r4.body.id)
    const v1Again = (await nodeIn(t, r4.body.id, 'n1')).cmdId
    expect(await applied(again)).toEqual([v1Cmd, v2Cmd, v1Again])
    expect(await nodeIn(t, r2, 'n1')).toMatchObject({ state: 'withdrawn' })
  })
})
