/**
 * Compacting a finished release now (`POST /releases/:id/compact`, `dandelion release compact`)
 * rather than after the retention period: it can no longer be rolled back, so the version it
 * replaced stops being a rollback target and may be removed. A release still running is not
 * compacted. Real tracker on disk, real agents on loopback.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { runReleaseCommand } from '../../tracker/cli.ts'
import type { MemoryContent } from '../node/agent/memory-content.ts'
import { captureOutput } from './cli-output.ts'
import { ADMIN, Harness, lessonCid, until } from './harness.ts'
import { http, untilCompleted } from './wire.ts'

const h = new Harness()
afterEach(() => h.teardown())

describe('compacting a finished release now', () => {
  it('ends its rollback, so the version it replaced can be removed; a running release is refused', {
    timeout: 30_000,
  }, async () => {
    const { t, contents } = await h.withAgents(3)
    const lesson = (c: MemoryContent): string | undefined => c.table.get('lesson')
    const release = async (
      version: number,
      stages: Array<{ percent: number; gate?: string }> = [{ percent: 100 }],
    ) =>
      (
        await http(t, 'POST', '/releases', {
          resource: 'lesson',
          version,
          targets: { campuses: ['bj-1'] },
          stages,
        })
      ).body.id as string
    const r1 = await release(1)
    await untilCompleted(t, r1)
    const r2 = await release(2)
    await untilCompleted(t, r2)
    await until(() => contents.every((c) => lesson(c) === lessonCid(2)), 'every node on v2')

    // v1 is what a rollback of r2 would send the nodes back to
    let removed = await http(t, 'DELETE', '/resources/lesson/versions/1')
    expect(removed.status).toBe(409)
    expect(removed.body.error.message).toContain(`rollback target of release ${r2}`)
    expect(removed.body.error.message).toContain(`dandelion release compact <id>`)

    const { out } = await captureOutput(() =>
      runReleaseCommand(['compact', r2, '--tracker', t.url, '--token', ADMIN]),
    )
    expect(JSON.parse(out)).toMatchObject({ id: r2, status: 'completed', compacted: { nodes: 3 } })
    removed = await http(t, 'DELETE', '/resources/lesson/versions/1')
    expect(removed.status).toBe(200)
    expect(removed.body).toMatchObject({ version: 1, status: 'removed' })
    // and r2 can no longer be rolled back; the nodes run v2 as before
    const rollback = await http(t, 'POST', `/releases/${r2}/rollback`)
    expect(rollback.status).toBe(409)
    expect(rollback.body.error.code).toBe('ERR_RELEASE_COMPACTED')
    expect(contents.every((c) => lesson(c) === lessonCid(2))).toBe(true)

    // a release that still runs is not compacted
    const r3 = await release(2, [{ percent: 33, gate: 'manual' }, { percent: 100 }])
    const refused = await http(t, 'POST', `/releases/${r3}/compact`)
    expect(refused.status).toBe(409)
    expect(refused.body.error.code).toBe('ERR_INVALID_RELEASE_STATE')
  })
})
