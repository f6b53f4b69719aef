/**
 * `dandelion versions list|remove` through the same runner as the process (`runCommand`: a
 * usage error exits 2, a refusal 1 with the tracker's reason): an operator removes a version
 * nothing uses, and is told why one in use is kept. Real tracker, the API over HTTP.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { runCommand } from '../../node/cli-main.ts'
import { runVersionsCommand } from '../../tracker/cli.ts'
import { captureOutput } from './cli-output.ts'
import { ADMIN, Harness, lessonCid } from './harness.ts'
import { createRelease } from './wire.ts'

const h = new Harness()
afterEach(() => h.teardown())

/** Runs `dandelion versions …argv`: its exit status and what it printed. */
async function versions(argv: string[]): Promise<{ status: number; out: string; err: string }> {
  const saved = process.exitCode
  process.exitCode = undefined
  try {
    const { out, err } = await captureOutput(() =>
      runCommand({ versions: runVersionsCommand }, 'versions', argv),
    )
    return { status: Number(process.exitCode ?? 0), out, err }
  } finally {
    process.exitCode = saved
  }
}

describe('dandelion versions', () => {
  it('removes a version nothing uses, refuses one in use saying why, and lists them', {
    timeout: 30_000,
  }, async () => {
    const t = await h.tracker()
    await h.seed(t)
    await h.api(t, 'POST', '/nodes', { id: 'n0', campus: 'bj-1' })
    const rel = await createRelease(t, { version: 1, targets: { nodes: ['n0'] } })
    const common = ['--tracker', t.url, '--token', ADMIN]

    const removed = await versions(['remove', 'lesson', '3', ...common])
    expect(removed).toMatchObject({ status: 0, err: '' })
    expect(removed.out).toMatch(
      /^lesson v3 removed \(\d{4}-\d\d-\d\dT[\d:]+Z\): no node runs or will be sent it/,
    )
    // again: the same answer
    expect((await versions(['remove', 'lesson', '3', ...common])).status).toBe(0)

    const kept = await versions(['remove', 'lesson', '1', ...common])
    expect(kept.status).toBe(1)
    expect(kept.out).toBe('')
    expect(kept.err).toBe(
      `dandelion versions: 409 ERR_VERSION_IN_USE lesson v1 is in use: release ${rel} (running, 1 node) is releasing it; a command carrying it is still out to 1 node. First let the release finish or abort it; wait until those nodes have answered (or delete the nodes gone for good).\n`,
    )

    const list = await versions(['list', 'lesson', ...common])
    expect(list.status).toBe(0)
    expect(list.out.trim().split('\n')).toEqual([
      `v1      approved  ${lessonCid(1)} 1000 bytes  in use: release ${rel} (running, 1 node) is releasing it; a command carrying it is still out to 1 node`,
      `v2      approved  ${lessonCid(2)} 1000 bytes  removable`,
      expect.stringMatching(new RegExp(`^v3      removed   ${lessonCid(3)} 1000 bytes removed \\d{4}-`)),
    ])
    // what the list reads: the usage a removal would be judged on, changing nothing
    expect(await h.api(t, 'GET', '/resources/lesson/versions/2/usage')).toMatchObject({
      resource: 'lesson',
      version: 2,
      status: 'approved',
      inUse: false,
      details: { running: 0, commands: 0 },
    })
    expect(await h.api(t, 'GET', '/resources/lesson/versions/1/usage')).toMatchObject({
      inUse: true,
      message: expect.stringContaining('is releasing it'),
      details: { live: { total: 1 }, commands: 1 },
    })
    const json = JSON.parse((await versions(['list', 'lesson', '--json', ...common])).out)
    expect(json.map((v: { status: string }) => v.status)).toEqual(['approved', 'approved', 'removed'])
  })

  it('checks its arguments before sending anything, and shows its usage', async () => {
    const common = ['--tracker', 'http://127.0.0.1:9', '--token', ADMIN]
    for (const [argv, says] of [
      [['remove', 'lesson', 'two', ...common], /version "two": a version number/],
      [['remove', 'lesson', '0', ...common], /version "0": a version number/],
      [['remove', 'lesson', ...common], /missing version: <resource> <version>/],
      [['list', ...common], /missing resource: <resource>/],
    ] as const) {
      const res = await versions([...argv])
      expect(res.status, argv.join(' ')).toBe(2)
      expect(res.err).toMatch(says)
    }
    expect((await versions(['nope', ...common])).status).toBe(2)
    const help = await versions(['--help'])
    expect(help.status).toBe(0)
    expect(help.out).toContain('remove <resource> <version>')
  })
})
