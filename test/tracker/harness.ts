/** Small harness for tracker tests: a tracker, inventory seeding, agents, and waiting. */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { type Agent, type AgentContentApi, type AgentInit, createAgent } from '../../node/agent/index.ts'
import type { OutcomeStatus } from '../../node/agent/protocol.ts'
import { manifestCid } from '../../node/content/index.ts'
import { MAX_OUTBOX_PER_NODE } from '../../tracker/constants.ts'
import { createTracker, type Tracker, type TrackerInit } from '../../tracker/index.ts'
import type { RolloutEngine } from '../../tracker/rollout/engine.ts'
import type { TrackerState } from '../../tracker/state/index.ts'
import { MemoryContent } from '../node/agent/memory-content.ts'

export const ADMIN = 'admin-token-for-tests'
export const ENROLL = 'enroll-token-for-tests'

/** A well-formed manifest CID (the tracker checks the form, never the content). */
export function fakeManifestCid(label: string): string {
  return manifestCid(new TextEncoder().encode(label)).toString()
}

/** Manifest CID of `lesson` v`v` as {@link Harness.seed} registers it. */
export const lessonCid = (v: number): string => fakeManifestCid(`lesson-v${v}`)

export class Harness {
  readonly trackers: Tracker[] = []
  readonly agents: Agent[] = []
  private readonly dirs: string[] = []

  async tmp(prefix = 'dandelion-'): Promise<string> {
    const d = await mkdtemp(join(tmpdir(), prefix))
    this.dirs.push(d)
    return d
  }

  async tracker(init: Partial<TrackerInit> = {}): Promise<Tracker> {
    const t = await createTracker({
      adminToken: ADMIN,
      enrollmentToken: ENROLL,
      port: 0,
      retransmitInitialMs: 200,
      ...init,
    })
    this.trackers.push(t)
    return t
  }

  /** Calls the admin API and returns the JSON body; throws on a non-2xx answer. */
  // biome-ignore lint/suspicious/noExplicitAny: test helper returning whatever JSON the API answers
  async api(t: Tracker, method: string, url: string, body?: unknown): Promise<any> {
    const res = await t.app.inject({
      method: method as 'GET',
      url: `/api/v1${url}`,
      headers: { authorization: `Bearer ${ADMIN}` },
      payload: body as object,
    })
    if (res.statusCode >= 300) throw new Error(`${method} ${url} → ${res.statusCode} ${res.body}`)
    return res.body === '' ? undefined : res.json()
  }

  /** 2 cities, 3 campuses; `lesson` v1..v3 registered, v1 and v2 approved. */
  async seed(t: Tracker): Promise<void> {
    await this.api(t, 'POST', '/cities', { id: 'bj', name: 'Beijing' })
    await this.api(t, 'POST', '/cities', { id: 'sh', name: 'Shanghai' })
    await this.api(t, 'POST', '/campuses', { id: 'bj-1', city: 'bj', name: 'BJ one' })
    await this.api(t, 'POST', '/campuses', { id: 'bj-2', city: 'bj', name: 'BJ two' })
    await this.api(t, 'POST', '/campuses', { id: 'sh-1', city: 'sh', name: 'SH one' })
    for (const v of [1, 2, 3]) {
      await this.api(t, 'POST', '/resources/lesson/versions', {
        version: v,
        manifestCid: lessonCid(v),
        size: 1000,
        type: 'video',
      })
      if (v < 3) await this.api(t, 'POST', `/resources/lesson/versions/${v}/approve`)
    }
  }

  /**
   * A tracker on disk, {@link seed}ed, with `n` agents (`n0`, `n1`, …) in campus bj-1;
   * resolves once they are all connected.
   */
  async withAgents(n: number): Promise<{
    t: Tracker
    nodes: Array<{ agent: Agent; content: AgentContentApi }>
    contents: MemoryContent[]
  }> {
    const t = await this.tracker({ dataDir: await this.tmp() })
    await this.seed(t)
    const nodes = await Promise.all(
      Array.from({ length: n }, (_, i) => this.agent([t.channelUrl], `n${i}`, { campus: 'bj-1' })),
    )
    await until(() => nodes.every((x) => x.agent.connected), 'agents connected')
    return { t, nodes, contents: nodes.map((x) => x.content as MemoryContent) }
  }

  async agent(
    urls: string[],
    nodeId: string,
    opts: {
      campus?: string
      labels?: string[]
      dir?: string
      key?: PrivateKey
      content?: AgentContentApi
      token?: string
      version?: string
      /** More agent options (health report timing). */
      init?: Partial<AgentInit>
    } = {},
  ): Promise<{ agent: Agent; content: AgentContentApi; key: PrivateKey }> {
    const key = opts.key ?? (await generateKeyPair('Ed25519'))
    const content = opts.content ?? new MemoryContent()
    const agent = createAgent(
      { content, privateKey: key },
      {
        trackers: urls,
        dir: opts.dir,
        reconnectInitialMs: 50,
        reconnectMaxMs: 500,
        enrollment: { token: opts.token ?? ENROLL, nodeId, campus: opts.campus, labels: opts.labels },
        ...(opts.version === undefined ? {} : { version: opts.version }),
        ...opts.init,
      },
    )
    await agent.start()
    this.agents.push(agent)
    return { agent, content, key }
  }

  async teardown(): Promise<void> {
    for (const a of this.agents.splice(0)) await a.stop().catch(() => {})
    for (const t of this.trackers.splice(0)) await t.close().catch(() => {})
    for (const d of this.dirs.splice(0)) await rm(d, { recursive: true, force: true })
  }
}

/** Polls `check` until it returns true (bounded by the test timeout, not asserted on time). */
export async function until(
  check: () => boolean | Promise<boolean>,
  what = 'condition',
  maxMs = 30_000,
): Promise<void> {
  const end = Date.now() + maxMs
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

/**
 * Acts as the nodes `nodeIds` reporting `status` for every command queued to them, as the
 * channel does (ACK, then outcome, in one commit); nobody awaits the gate evaluation this
 * schedules. Returns how many commands were reported.
 */
export async function reportOutcomes(
  state: TrackerState,
  engine: RolloutEngine,
  nodeIds: Iterable<string>,
  status: OutcomeStatus,
): Promise<number> {
  const tx = state.tx()
  // snapshot first: commands issued by a gate opening during this pass wait for the next one
  const entries = [...nodeIds].flatMap((id) => [...state.outbox.entriesOf(id)].map((e) => [id, e] as const))
  for (const [nodeId, e] of entries) {
    state.outbox.ack(tx, nodeId, e.cmd.seq, e.cmd.id)
    engine.onAck(tx, nodeId, e.cmd)
    engine.onOutcome(tx, nodeId, e, { status })
    state.outbox.outcome(tx, nodeId, e.cmd.id, status)
  }
  await tx.commit({ sync: true })
  return entries.length
}

/** Fills a node's outbox as an offline node's fills up: with commands it never collects. */
export async function fillOutbox(state: TrackerState, nodeId: string): Promise<void> {
  const tx = state.tx()
  for (let i = 0; i < MAX_OUTBOX_PER_NODE; i++)
    state.outbox.enqueue(tx, nodeId, { op: 'deactivate', resource: 'other', version: 0, manifestCid: '-' })
  await tx.commit({ sync: true })
}
