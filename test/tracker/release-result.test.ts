/**
 * How a release ended, for an operator: a release whose nodes all failed still ends
 * `completed` (clients read that as "nothing left to wait on"), and says in `result`, in the
 * API and in `dandelion release status`, that it reached none of them. Through a tracker on
 * a level store with real agents.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import { runReleaseCommand } from '../../tracker/cli.ts'
import type { Tracker } from '../../tracker/index.ts'
import type { MemoryContent } from '../node/agent/memory-content.ts'
import { ADMIN, Harness, lessonCid, until } from './harness.ts'
import { http } from './wire.ts'

const h = new Harness()
afterEach(async () => {
  vi.restoreAllMocks()
  await h.teardown()
})

/** A tracker on disk with `lesson` v1/v2 approved and `n` connected agents in campus bj-1. */
async function withAgents(n: number) {
  const t = await h.tracker({ dataDir: await h.tmp() })
  await h.seed(t)
  const nodes = await Promise.all(
    Array.from({ length: n }, (_, i) => h.agent([t.channelUrl], `n${i}`, { campus: 'bj-1' })),
  )
  await until(() => nodes.every((x) => x.agent.connected), 'agents connected')
  return { t, contents: nodes.map((x) => x.content as MemoryContent) }
}

const status = async (t: Tracker, id: string) => (await http(t, 'GET', `/releases/${id}`)).body

async function completed(t: Tracker, version: number): Promise<string> {
  const res = await http(t, 'POST', '/releases', {
    resource: 'lesson',
    version,
    targets: { campuses: ['bj-1'] },
  })
  expect(res.status, JSON.stringify(res.body)).toBe(201)
  await until(async () => (await status(t, res.body.id)).release.status === 'completed', 'completed', 8_000)
  return res.body.id
}

/** `dandelion release status <id>` as printed. */
async function printed(t: Tracker, id: string): Promise<string> {
  let out = ''
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += chunk.toString()
    return true
  })
  try {
    expect(await runReleaseCommand(['status', id, '--tracker', t.url, '--token', ADMIN])).toBe(0)
  } finally {
    vi.restoreAllMocks()
  }
  return out
}

describe('release result', () => {
  it('ends a release whose every node failed `completed`, with a result saying it reached none', async () => {
    const { t, contents } = await withAgents(2)
    for (const c of contents) c.failing.add(lessonCid(1))
    const id = await completed(t, 1)
    const s = await status(t, id)
    expect(s.counts).toMatchObject({ active: 0, failed: 2 })
    expect(s.release.result).toEqual({ outcome: 'failed', active: 0, failed: 2, timedOut: 0 })
    expect((await http(t, 'GET', '/releases')).body[0].result.outcome).toBe('failed')
    expect(await printed(t, id)).toContain(
      `release ${id}  lesson v1  completed (failed: 0 active, 2 failed)  stage 1/1`,
    )

    // and one that reached every node says so
    for (const c of contents) c.failing.clear()
    const ok = await completed(t, 2)
    expect((await status(t, ok)).release.result).toEqual({
      outcome: 'succeeded',
      active: 2,
      failed: 0,
      timedOut: 0,
    })
    expect(await printed(t, ok)).toContain('completed (succeeded: 2 active, 0 failed)')
  })
})
