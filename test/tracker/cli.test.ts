import { afterEach, describe, expect, it, vi } from 'vitest'
import { runReleaseCommand } from '../../tracker/cli.ts'
import { ADMIN, Harness } from './harness.ts'

const h = new Harness()
afterEach(async () => {
  vi.restoreAllMocks()
  await h.teardown()
})

/** Runs the command and returns what it printed. */
async function run(argv: string[]): Promise<{ code: number; out: string }> {
  let out = ''
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += chunk.toString()
    return true
  })
  try {
    return { code: await runReleaseCommand(argv), out }
  } finally {
    vi.restoreAllMocks()
  }
}

describe('dandelion release', () => {
  it('creates, shows, pauses, advances and rolls back a release through the API', async () => {
    const t = await h.tracker()
    await h.seed(t)
    for (const id of ['a', 'b', 'c', 'd']) await h.api(t, 'POST', '/nodes', { id, campus: 'bj-1' })
    const common = ['--tracker', t.url, '--token', ADMIN]
    const created = await run([
      'create',
      ...common,
      '--resource',
      'lesson',
      '--version',
      '2',
      '--campuses',
      'bj-1',
      '--stages',
      '50,100',
      '--gate',
      'manual',
    ])
    expect(created.code).toBe(0)
    const { id, stages } = JSON.parse(created.out)
    expect(stages).toEqual([
      { percent: 50, gate: 'manual', successRatio: 1 },
      { percent: 100, gate: 'manual', successRatio: 1 },
    ])
    const status = await run(['status', id, ...common])
    expect(status.out).toContain(`release ${id}  lesson v2  running  stage 1/2`)
    expect(status.out).toMatch(/total\s+2\s+0/)
    expect(JSON.parse((await run(['pause', id, ...common])).out).status).toBe('paused')
    expect(JSON.parse((await run(['advance', id, ...common])).out).stage).toBe(1)
    expect(JSON.parse((await run(['rollback', id, ...common])).out).status).toBe('rolled_back')
    await expect(run(['rollback', id, ...common])).rejects.toThrow(/409 ERR_INVALID_RELEASE_STATE/)
  })

  it('refuses to run without a token', async () => {
    const saved = process.env.DANDELION_ADMIN_TOKEN
    delete process.env.DANDELION_ADMIN_TOKEN
    try {
      await expect(runReleaseCommand(['list'])).rejects.toMatchObject({ code: 'ERR_INVALID_CONFIG' })
    } finally {
      if (saved !== undefined) process.env.DANDELION_ADMIN_TOKEN = saved
    }
  })
})
