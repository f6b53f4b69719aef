/**
 * A late member whose catch-up fails, for the catch-up retry tests: a tracker on disk, a
 * release of `lesson` v1 to campus bj-1 completed on `n0`, then `late` enrolls into bj-1 with
 * content whose fetch of v1 fails.
 */
import type { ReleaseEvent, ReleaseNode, Tracker, TrackerInit } from '../../tracker/index.ts'
import { MemoryContent } from '../node/agent/memory-content.ts'
import { type Harness, lessonCid, until } from './harness.ts'

/** A late member's state in a release, as `GET /releases/:id/nodes` shows it. */
export async function nodeIn(h: Harness, t: Tracker, id: string, nodeId: string): Promise<ReleaseNode> {
  const { nodes } = await h.api(t, 'GET', `/releases/${id}/nodes`)
  return nodes.find((n: ReleaseNode) => n.nodeId === nodeId)
}

/** Creates a release of `lesson` and resolves with its id once it completed. */
export async function released(h: Harness, t: Tracker, body: object): Promise<string> {
  const rel = await h.api(t, 'POST', '/releases', { resource: 'lesson', ...body })
  await until(
    async () => (await h.api(t, 'GET', `/releases/${rel.id}`)).release.status === 'completed',
    'release completed',
  )
  return rel.id
}

/** The tracker on `dataDir` again, on the port it had (its agents reconnect by themselves). */
export async function restart(
  h: Harness,
  t: Tracker,
  dataDir: string,
  init: Partial<TrackerInit>,
): Promise<Tracker> {
  await t.close()
  return h.tracker({ dataDir, port: Number(new URL(t.url).port), ...init })
}

/** The catch-up retries the engine announces (`release.node` with `retry`, the attempt). */
export function retriesOf(t: Tracker): ReleaseEvent[] {
  const seen: ReleaseEvent[] = []
  t.engine.on('event', (e) => {
    if (e.type === 'release.node' && e.retry !== undefined) seen.push(e)
  })
  return seen
}

/** See the module comment. Resolves once the late member's first catch-up failed. */
export async function lateMemberFailing(h: Harness, init: Partial<TrackerInit> = {}) {
  const dataDir = await h.tmp()
  const t = await h.tracker({ dataDir, ...init })
  await h.seed(t)
  const early = await h.agent([t.channelUrl], 'n0', { campus: 'bj-1' })
  await until(() => early.agent.connected, 'n0 connected')
  const id = await released(h, t, { version: 1, targets: { campuses: ['bj-1'] } })
  const content = new MemoryContent()
  content.failing.add(lessonCid(1))
  const late = await h.agent([t.channelUrl], 'late', { campus: 'bj-1', content })
  await until(async () => (await nodeIn(h, t, id, 'late'))?.state === 'failed', 'catch-up failed')
  return { t, dataDir, id, early, late, content }
}

/** Fetches of `cid` the node's content was asked for. */
export const fetchesOf = (content: MemoryContent, cid: string): number =>
  content.calls.filter((c) => c === `fetch ${cid}`).length
