import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import type { OutcomeStatus } from '../../../node/agent/protocol.ts'
import { MAX_OUTBOX_PER_NODE } from '../../../tracker/constants.ts'
import { type ReleaseEvent, RolloutEngine } from '../../../tracker/rollout/engine.ts'
import { releaseStatus } from '../../../tracker/rollout/status.ts'
import { TrackerState } from '../../../tracker/state/index.ts'
import { fakeManifestCid, fillOutbox, reportOutcomes, until } from '../harness.ts'

const dirs: string[] = []
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true })
})

/** 12 nodes in 2 cities and 3 campuses; v1 and v2 of `lesson` approved. */
async function setup(
  dir?: string,
): Promise<{ state: TrackerState; engine: RolloutEngine; delivered: string[] }> {
  const state = new TrackerState(dir)
  await state.open()
  const delivered: string[] = []
  const engine = new RolloutEngine({ state, deliver: (n) => delivered.push(n) })
  const tx = state.tx()
  state.inventory.putCity(tx, { id: 'bj', name: 'Beijing' })
  state.inventory.putCity(tx, { id: 'sh', name: 'Shanghai' })
  state.inventory.putCampus(tx, { id: 'bj-1', city: 'bj', name: 'BJ 1' })
  state.inventory.putCampus(tx, { id: 'bj-2', city: 'bj', name: 'BJ 2' })
  state.inventory.putCampus(tx, { id: 'sh-1', city: 'sh', name: 'SH 1' })
  for (let i = 0; i < 12; i++)
    state.inventory.putNode(tx, {
      id: `n${i}`,
      campus: ['bj-1', 'bj-2', 'sh-1'][i % 3],
      labels: i < 2 ? ['lab'] : [],
    })
  for (const v of [1, 2, 3]) {
    state.catalog.register(tx, {
      resource: 'lesson',
      version: v,
      manifestCid: fakeManifestCid(`v${v}`),
      size: 10,
      type: 'video',
    })
    if (v < 3) state.catalog.approve(tx, 'lesson', v)
  }
  await tx.commit({ sync: true })
  return { state, engine, delivered }
}

/** Acts as every node that has a queued command: report `status` for it, then settle. */
async function report(
  state: TrackerState,
  engine: RolloutEngine,
  status: OutcomeStatus,
  only?: string[],
): Promise<number> {
  const n = await feed(state, engine, status, only)
  await engine.settle()
  return n
}

/** {@link report} as the channel does it: nobody awaits the gate evaluation it schedules. */
async function feed(
  state: TrackerState,
  engine: RolloutEngine,
  status: OutcomeStatus,
  only?: string[],
): Promise<number> {
  return await reportOutcomes(state, engine, only ?? state.inventory.nodes.keys(), status)
}

/** The next event of `type` the engine emits. */
function nextEvent(engine: RolloutEngine, type: ReleaseEvent['type']): Promise<ReleaseEvent> {
  return new Promise((resolve) => {
    const on = (e: ReleaseEvent): void => {
      if (e.type !== type) return
      engine.off('event', on)
      resolve(e)
    }
    engine.on('event', on)
  })
}

/** A canary stage (auto gate) then everyone; returns the release and its nodes per stage. */
async function canaryRelease(state: TrackerState, engine: RolloutEngine) {
  const r = await engine.create({
    resource: 'lesson',
    version: 1,
    targets: { cities: ['bj', 'sh'] },
    stages: [
      { percent: 10, gate: 'auto', successRatio: 1 },
      { percent: 100, gate: 'auto' },
    ],
  })
  const nodes = [...state.releases.nodesOf(r.id).values()]
  const canaries = nodes.filter((n) => n.stage === 0).map((n) => n.nodeId)
  const rest = nodes.filter((n) => n.stage === 1).map((n) => n.nodeId)
  return { r, canaries, rest }
}

describe('rollout engine', () => {
  it('refuses a draft version', async () => {
    const { engine } = await setup()
    await expect(
      engine.create({ resource: 'lesson', version: 3, targets: { cities: ['bj'] } }),
    ).rejects.toMatchObject({
      code: 'ERR_VERSION_NOT_APPROVED',
    })
  })

  it('runs canary → auto gate → full, then completes', async () => {
    const { state, engine, delivered } = await setup()
    const r = await engine.create({
      resource: 'lesson',
      version: 1,
      targets: { cities: ['bj', 'sh'] },
      stages: [
        { percent: 10, gate: 'auto', successRatio: 1 },
        { percent: 100, gate: 'auto' },
      ],
    })
    expect(delivered).toHaveLength(2) // ceil(12 × 10%) canaries
    expect(releaseStatus(state, r.id).counts).toMatchObject({ pending: 2, waiting: 10 })
    expect(await report(state, engine, 'active')).toBe(2)
    expect(r.stage).toBe(1)
    // the gate opened: the other 10 nodes have their commands queued
    expect(releaseStatus(state, r.id).counts).toMatchObject({ active: 2, pending: 10 })
    await report(state, engine, 'active')
    const s = releaseStatus(state, r.id)
    expect(s.release.status).toBe('completed')
    expect(s.counts.active).toBe(12)
    expect(s.cities.bj.active).toBe(8)
    expect(s.campuses['sh-1'].active).toBe(4)
  })

  it('holds at a manual gate until advanced, and pause stops auto-advance', async () => {
    const { state, engine } = await setup()
    const r = await engine.create({
      resource: 'lesson',
      version: 1,
      targets: { campuses: ['bj-1', 'bj-2'] },
      stages: [
        { percent: 25, gate: 'manual' },
        { percent: 50, gate: 'auto' },
        { percent: 100, gate: 'auto' },
      ],
    })
    await report(state, engine, 'active')
    expect(r.stage).toBe(0)
    await engine.operate(r.id, 'advance')
    expect(r.stage).toBe(1)
    await engine.operate(r.id, 'pause')
    await report(state, engine, 'active')
    expect(r.stage).toBe(1)
    await expect(engine.operate(r.id, 'pause')).rejects.toMatchObject({ code: 'ERR_INVALID_RELEASE_STATE' })
    await engine.operate(r.id, 'resume')
    expect(r.stage).toBe(2)
    await report(state, engine, 'active')
    expect(r.status).toBe('completed')
  })

  it('holds an auto gate below its success ratio; abort stops the release', async () => {
    const { state, engine } = await setup()
    const r = await engine.create({
      resource: 'lesson',
      version: 1,
      targets: { cities: ['bj', 'sh'] },
      stages: [
        { percent: 50, gate: 'auto', successRatio: 0.8 },
        { percent: 100, gate: 'auto' },
      ],
    })
    const canaries = [...state.releases.nodesOf(r.id).values()]
      .filter((n) => n.stage === 0)
      .map((n) => n.nodeId)
    await report(state, engine, 'failed', canaries.slice(0, 2))
    await report(state, engine, 'active', canaries.slice(2))
    // 4 of 6 succeeded (67% < 80%): held
    expect(r.stage).toBe(0)
    expect(releaseStatus(state, r.id).counts).toMatchObject({ failed: 2, active: 4, waiting: 6 })
    await engine.operate(r.id, 'abort')
    expect(r.status).toBe('aborted')
    await expect(engine.operate(r.id, 'advance')).rejects.toMatchObject({ code: 'ERR_INVALID_RELEASE_STATE' })
  })

  it('rolls nodes back to the version they ran before', async () => {
    const { state, engine } = await setup()
    const r1 = await engine.create({ resource: 'lesson', version: 1, targets: { cities: ['bj'] } })
    await report(state, engine, 'active')
    expect(r1.status).toBe('completed')
    const r2 = await engine.create({ resource: 'lesson', version: 2, targets: { cities: ['bj', 'sh'] } })
    await report(state, engine, 'active')
    await engine.operate(r2.id, 'rollback')
    const cmds = [...state.inventory.nodes.keys()].flatMap((n) =>
      [...state.outbox.entriesOf(n)].map((e) => e.cmd),
    )
    // bj nodes go back to v1, sh nodes (nothing before) deactivate
    expect(cmds.filter((c) => c.op === 'activate' && c.version === 1)).toHaveLength(8)
    expect(cmds.filter((c) => c.op === 'deactivate')).toHaveLength(4)
    await report(state, engine, 'active')
    expect(releaseStatus(state, r2.id).counts.reverted).toBe(12)
    expect(state.releases.currentOf('n0', 'lesson')?.version).toBe(1)
  })

  it('withdraws unACKed place commands of a rolled-back release', async () => {
    const { state, engine } = await setup()
    const r = await engine.create({ resource: 'lesson', version: 2, targets: { campuses: ['sh-1'] } })
    await engine.operate(r.id, 'rollback')
    for (const nodeId of state.releases.nodesOf(r.id).keys())
      expect([...state.outbox.entriesOf(nodeId)].map((e) => e.cmd.op)).toEqual(['deactivate'])
    expect(state.outbox.stats()).toEqual({ queued: 4, unacked: 4 })
  })

  it('sends version B to exactly the B side of an A/B split', async () => {
    const { state, engine } = await setup()
    const r = await engine.create({
      resource: 'lesson',
      version: 1,
      ab: { version: 2, percent: 50 },
      targets: { labels: [], cities: ['bj', 'sh'] },
    })
    const nodes = state.releases.nodesOf(r.id)
    for (const [nodeId, rn] of nodes) {
      const [e] = state.outbox.entriesOf(nodeId)
      expect(e.cmd.version).toBe(rn.variant === 'B' ? 2 : 1)
    }
    expect([...nodes.values()].filter((n) => n.variant === 'B')).toHaveLength(6)
  })

  it('holds a passed gate while a next-stage node has a full outbox, then issues the stage', async () => {
    const { state, engine, delivered } = await setup()
    const { r, canaries, rest } = await canaryRelease(state, engine)
    const offline = rest[rest.length - 1]
    await fillOutbox(state, offline)
    // before the fix the gate evaluation rejected with nobody awaiting it; fail fast on that
    let onUnhandled: ((err: unknown) => void) | undefined
    const unhandled = new Promise<never>((_, reject) => {
      onUnhandled = reject
      process.once('unhandledRejection', onUnhandled)
    })
    try {
      const blocked = nextEvent(engine, 'release.blocked')
      await feed(state, engine, 'active', canaries)
      expect(await Promise.race([blocked, unhandled])).toMatchObject({
        releaseId: r.id,
        code: 'ERR_CAPACITY',
      })
      // still running, and the stage is held as a whole: not even the nodes with room got commands
      expect(r.status).toBe('running')
      expect(r.stage).toBe(0)
      expect(releaseStatus(state, r.id).counts).toMatchObject({ active: 2, waiting: 10, pending: 0 })
      expect(state.outbox.stats().queued).toBe(MAX_OUTBOX_PER_NODE)
      delivered.length = 0
      // the node comes back and works through its outbox: the release moves on by itself
      const issued = nextEvent(engine, 'release.stage')
      await feed(state, engine, 'done', [offline])
      expect(await Promise.race([issued, unhandled])).toMatchObject({ releaseId: r.id, stage: 1 })
    } finally {
      if (onUnhandled !== undefined) process.off('unhandledRejection', onUnhandled)
    }
    // delivery follows the commit of the evaluation
    await until(() => delivered.length === rest.length, 'the stage delivered')
    expect(releaseStatus(state, r.id).counts).toMatchObject({ active: 2, pending: 10 })
    expect([...delivered].sort()).toEqual([...rest].sort())
  })

  it('leaves nothing of a held stage on disk, and answers advance with the capacity error', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tracker-state-'))
    dirs.push(dir)
    const a = await setup(dir)
    const { r, canaries, rest } = await canaryRelease(a.state, a.engine)
    await fillOutbox(a.state, rest[rest.length - 1])
    await report(a.state, a.engine, 'active', canaries)
    await expect(a.engine.operate(r.id, 'advance')).rejects.toMatchObject({ code: 'ERR_CAPACITY' })
    expect(r.stage).toBe(0)
    await a.state.close()
    // a restart must not find (and replay) commands of the stage that was never issued
    const b = new TrackerState(dir)
    await b.open()
    expect(b.releases.get(r.id)).toMatchObject({ status: 'running', stage: 0 })
    expect(releaseStatus(b, r.id).counts).toMatchObject({ active: 2, waiting: 10, pending: 0 })
    const places = rest.flatMap((n) => [...b.outbox.entriesOf(n)].filter((e) => e.cmd.op === 'place'))
    expect(places).toEqual([])
    await b.close()
  })

  it('refuses a rollback that cannot queue every revert, changing nothing', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tracker-state-'))
    dirs.push(dir)
    const a = await setup(dir)
    const r = await a.engine.create({ resource: 'lesson', version: 2, targets: { campuses: ['sh-1'] } })
    const nodes = [...a.state.releases.nodesOf(r.id).keys()]
    // the last node to revert is active, and its outbox is full (offline, long queue)
    const full = nodes[nodes.length - 1]
    await report(a.state, a.engine, 'active', [full])
    await fillOutbox(a.state, full)
    await expect(a.engine.operate(r.id, 'rollback')).rejects.toMatchObject({ code: 'ERR_CAPACITY' })
    // nothing changed in memory: the others still wait for their place, which is still queued
    const check = (st: TrackerState): void => {
      expect(st.releases.get(r.id)?.status).toBe('running')
      for (const n of nodes.slice(0, -1)) {
        expect(st.releases.nodesOf(r.id).get(n)?.state).toBe('pending')
        expect([...st.outbox.entriesOf(n)].map((e) => e.cmd.op)).toEqual(['place'])
      }
      expect(st.releases.nodesOf(r.id).get(full)?.state).toBe('active')
    }
    check(a.state)
    await a.state.close()
    // and the disk says the same
    const b = new TrackerState(dir)
    await b.open()
    check(b)
    await b.close()
  })

  it('persists releases, node states and the outbox in level', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tracker-state-'))
    dirs.push(dir)
    const a = await setup(dir)
    const r = await a.engine.create({
      resource: 'lesson',
      version: 1,
      targets: { cities: ['sh'] },
      stages: [
        { percent: 50, gate: 'manual' },
        { percent: 100, gate: 'auto' },
      ],
    })
    const ids = (st: TrackerState) =>
      [...st.inventory.nodes.keys()].flatMap((n) => [...st.outbox.entriesOf(n)].map((e) => e.cmd.id)).sort()
    const queued = ids(a.state)
    await a.state.close()
    const b = new TrackerState(dir)
    await b.open()
    expect(b.releases.get(r.id)).toMatchObject({ status: 'running', stage: 0, total: 4 })
    expect(ids(b)).toEqual(queued)
    expect(b.catalog.get('lesson', 1).status).toBe('approved')
    await b.close()
  })
})
