/**
 * How a release ended, for an operator: a release whose nodes all failed still ends
 * `completed` (clients read that as "nothing left to wait on"), and says in `result`, in the
 * API and in `dandelion release status`, that it reached none of them. Through a tracker on
 * a level store with real agents.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import { runReleaseCommand } from '../../tracker/cli.ts'
import type { Tracker } from '../../tracker/index.ts'
import { captureOutput } from './cli-output.ts'
import { ADMIN, Harness, lessonCid } from './harness.ts'
import { createRelease, http, releaseStatus, untilCompleted } from './wire.ts'

const h = new Harness()
afterEach(async () => {
  vi.restoreAllMocks()
  await h.teardown()
})

/** Releases `lesson` v`version` to campus bj-1; its id, once completed. */
async function completed(t: Tracker, version: number): Promise<string> {
  const id = await createRelease(t, { version, targets: { campuses: ['bj-1'] } })
  await untilCompleted(t, id)
  return id
}

/** `dandelion release status <id>` as printed. */
async function printed(t: Tracker, id: string): Promise<string> {
  const { value, out } = await captureOutput(() =>
    runReleaseCommand(['status', id, '--tracker', t.url, '--token', ADMIN]),
  )
  expect(value).toBe(0)
  return out
}

describe('release result', () => {
  it('ends a release whose every node failed `completed`, with a result saying it reached none', async () => {
    const { t, contents } = await h.withAgents(2)
    for (const c of contents) c.failing.add(lessonCid(1))
    const id = await completed(t, 1)
    const s = await releaseStatus(t, id)
    expect(s.counts).toMatchObject({ active: 0, failed: 2 })
    expect(s.release.result).toEqual({ outcome: 'failed', active: 0, failed: 2, timedOut: 0 })
    expect((await http(t, 'GET', '/releases')).body[0].result.outcome).toBe('failed')
    expect(await printed(t, id)).toContain(
      `release ${id}  lesson v1  completed (failed: 0 active, 2 failed)  stage 1/1`,
    )

    // and one that reached every node says so
    for (const c of contents) c.failing.clear()
    const ok = await completed(t, 2)
    expect((await releaseStatus(t, ok)).release.result).toEqual({
      outcome: 'succeeded',
      active: 2,
      failed: 0,
      timedOut: 0,
    })
    expect(await printed(t, ok)).toContain('completed (succeeded: 2 active, 0 failed)')
  })
})
