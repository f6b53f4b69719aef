/**
 * A node that ACKs its command and then never reports (it died, or its agent hangs) counts
 * as failed, reason `timeout`, once the release's outcome deadline has passed: through
 * the admin API of a tracker on a level store with real agents whose fetch never ends, with
 * deadlines of a fraction of a second.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import { runReleaseCommand } from '../../tracker/cli.ts'
import type { Tracker } from '../../tracker/index.ts'
import type { MemoryContent } from '../node/agent/memory-content.ts'
import { ADMIN, Harness, lessonCid, until } from './harness.ts'
import { approvedSlides, createRelease, http, releaseStatus, untilCompleted } from './wire.ts'

const h = new Harness()
afterEach(async () => {
  vi.restoreAllMocks()
  await h.teardown()
})

/** A fetch that hangs until `open()` (the agent ACKed, and reports nothing meanwhile). */
function hang(content: MemoryContent): () => void {
  let open!: () => void
  content.gate = new Promise<void>((resolve) => {
    open = resolve
  })
  return open
}

/** `n` connected agents in campus bj-1 of `t`, their fetches hanging. */
async function hangingAgents(t: Tracker, n: number, first = 0) {
  const nodes = await Promise.all(
    Array.from({ length: n }, (_, i) => h.agent([t.channelUrl], `n${first + i}`, { campus: 'bj-1' })),
  )
  await until(() => nodes.every((x) => x.agent.connected), 'agents connected')
  const contents = nodes.map((x) => x.content as MemoryContent)
  return { contents, open: contents.map(hang), agents: nodes.map((x) => x.agent) }
}

const nodesOf = async (t: Tracker, id: string) => (await http(t, 'GET', `/releases/${id}/nodes`)).body.nodes

describe('outcome deadline', () => {
  it('counts a node that ACKed and never reported as failed (timeout), and the release completes, partly', async () => {
    const t = await h.tracker({ dataDir: await h.tmp() })
    await h.seed(t)
    const { open } = await hangingAgents(t, 2)
    open[0]() // n0 answers; n1 hangs for good
    const id = await createRelease(t, { targets: { campuses: ['bj-1'] }, outcomeTimeoutMs: 300 })
    expect((await releaseStatus(t, id)).release.outcomeTimeoutMs).toBe(300)
    await untilCompleted(t, id, 10_000)

    const s = await releaseStatus(t, id)
    expect(s.counts).toMatchObject({ active: 1, failed: 1, fetching: 0 })
    expect(s.timedOut).toBe(1)
    expect(s.stages[0].timedOut).toBe(1)
    expect(s.release.result).toEqual({ outcome: 'partial', active: 1, failed: 1, timedOut: 1 })
    const n1 = (await nodesOf(t, id)).find((n: { nodeId: string }) => n.nodeId === 'n1')
    expect(n1).toMatchObject({ state: 'failed', reason: 'timeout' })
    expect(n1.timedOutAt - n1.ackedAt).toBeGreaterThanOrEqual(300)
    // a release created without one gets the default, a day
    expect(
      (await http(t, 'POST', '/releases', { resource: 'lesson', version: 2, targets: { nodes: ['n0'] } }))
        .body.outcomeTimeoutMs,
    ).toBe(24 * 3600 * 1000)
    expect(
      (
        await http(t, 'POST', '/releases', {
          resource: 'lesson',
          version: 2,
          targets: { nodes: ['n1'] },
          outcomeTimeoutMs: 0,
        })
      ).status,
    ).toBe(400)
  })

  it('holds a gate on a canary that timed out, and records its late outcome once, which opens the gate', async () => {
    const t = await h.tracker({ dataDir: await h.tmp() })
    await h.seed(t)
    const { contents, open } = await hangingAgents(t, 2)
    const id = await createRelease(t, {
      targets: { campuses: ['bj-1'] },
      stages: [{ percent: 50, gate: 'auto', successRatio: 1 }, { percent: 100 }],
      outcomeTimeoutMs: 300,
    })
    await until(async () => (await releaseStatus(t, id)).timedOut === 1, 'canary timed out', 10_000)
    let s = await releaseStatus(t, id)
    // the gate resolved: it holds, the canary counting as failed
    expect(s.release).toMatchObject({ status: 'running', stage: 0 })
    expect(s.stages[0].counts).toMatchObject({ failed: 1, fetching: 0 })
    expect(s.counts.waiting).toBe(1)

    // the canary's fetch ends after all: it reports active, late
    for (const o of open) o()
    await untilCompleted(t, id, 10_000)
    s = await releaseStatus(t, id)
    expect(s.counts).toMatchObject({ active: 2, failed: 0 })
    expect(s.timedOut).toBe(0)
    expect(s.late).toBe(1)
    expect(s.release.result).toEqual({ outcome: 'succeeded', active: 2, failed: 0, timedOut: 0 })
    for (const c of contents) expect(c.table.get('lesson')).toBe(lessonCid(1))
  })

  it('applies deadlines after a restart, from the ACKs on disk', async () => {
    const dataDir = await h.tmp()
    const t = await h.tracker({ dataDir })
    await h.seed(t)
    await approvedSlides(t)
    await hangingAgents(t, 2)
    const short = await createRelease(t, { targets: { nodes: ['n0'] }, outcomeTimeoutMs: 600 })
    const longer = (
      await http(t, 'POST', '/releases', {
        resource: 'slides',
        version: 1,
        targets: { nodes: ['n1'] },
        outcomeTimeoutMs: 2_500,
      })
    ).body.id as string
    await until(
      async () =>
        (await releaseStatus(t, short)).counts.fetching === 1 &&
        (await releaseStatus(t, longer)).counts.fetching === 1,
      'both ACKed',
    )
    const [n0] = await nodesOf(t, short)
    const [n1] = await nodesOf(t, longer)
    // the tracker stops; its nodes cannot reach the one started next (another port)
    await t.close()
    await until(() => Date.now() > n0.ackedAt + 700, 'the first deadline passed')

    const back = await h.tracker({ dataDir })
    // passed while the tracker was down: applied as it starts, before it answers anything
    let s = await releaseStatus(back, short)
    expect(s.counts).toMatchObject({ failed: 1, fetching: 0 })
    expect(s.release).toMatchObject({ status: 'completed', result: { outcome: 'failed', timedOut: 1 } })
    // still ahead: counted from the ACK on disk, and met without any message from the node
    expect((await releaseStatus(back, longer)).counts.fetching).toBe(1)
    await until(async () => (await releaseStatus(back, longer)).timedOut === 1, 'second deadline', 10_000)
    const [late] = await nodesOf(back, longer)
    expect(late).toMatchObject({ state: 'failed', reason: 'timeout', ackedAt: n1.ackedAt })
    expect(late.timedOutAt).toBeGreaterThanOrEqual(n1.ackedAt + 2_500)
    s = await releaseStatus(back, longer)
    expect(s.release.result).toEqual({ outcome: 'failed', active: 0, failed: 1, timedOut: 1 })
  })

  it('is set by `dandelion release create --outcome-timeout`', async () => {
    const t = await h.tracker({ dataDir: await h.tmp() })
    await h.seed(t)
    await h.api(t, 'POST', '/nodes', { id: 'a', campus: 'bj-1' })
    let out = ''
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      out += chunk.toString()
      return true
    })
    const create = (timeout: string) =>
      runReleaseCommand([
        'create',
        ...['--tracker', t.url, '--token', ADMIN, '--resource', 'lesson', '--version', '1'],
        ...['--nodes', 'a', '--outcome-timeout', timeout],
      ])
    await expect(create('soon')).rejects.toMatchObject({
      name: 'InvalidConfigError',
      message: expect.stringContaining('--outcome-timeout'),
    })
    expect(await create('90m')).toBe(0)
    vi.restoreAllMocks()
    expect(JSON.parse(out).outcomeTimeoutMs).toBe(90 * 60 * 1000)
  })
})
