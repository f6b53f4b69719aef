/**
 * `dandelion status`: the operator at a campus node's machine asks what it holds and does,
 * and reads it; a real daemon (in this process) that fetched a lesson from a real origin.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { runFetchCommand } from '../../../node/daemon/api-commands.ts'
import { runNodeCommand } from '../../../node/daemon/cli.ts'
import { runStatusCommand } from '../../../node/daemon/status-command.ts'
import { closedPort, LOCAL_FLAGS } from '../utils/cli.ts'
import { Harness, until } from '../utils/harness.ts'
import { originWithLesson } from '../utils/origin.ts'

describe('dandelion status', () => {
  const h = new Harness()
  const closers: Array<() => Promise<unknown>> = []
  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close().catch(() => {})
    await h.teardown()
  })

  it("shows a node's campus, peers, origin, store, rates and each content's progress", {
    timeout: 30_000,
  }, async () => {
    const { origin, cid, signer } = await originWithLesson(h, 'origin-token-status')
    closers.push(() => origin.close())
    const dir = await h.tempDir()
    const lines: string[] = []
    const abort = new AbortController()
    const done = runNodeCommand(
      [
        ...LOCAL_FLAGS,
        '--origin',
        origin.url,
        '--trusted-origin',
        signer,
        '--campus',
        'bj-1',
        '--upload-limit',
        '1048576',
      ],
      { env: { DANDELION_DATA: dir }, stdout: (l) => lines.push(l), stderr: () => {}, signal: abort.signal },
    )
    closers.push(async () => {
      abort.abort()
      await done
    })
    await until(() => lines.some((l) => l.includes('"ready"')))
    const { api } = JSON.parse(lines.find((l) => l.includes('"ready"'))!) as { api: string }
    await runFetchCommand([cid, '--node', api, '--data', dir], { stdout: () => {}, env: {} })

    const out: string[] = []
    await runStatusCommand(['--node', api], { stdout: (l) => out.push(l), env: {} })
    const text = out.join('\n')
    expect(out[0]).toMatch(/^node 12D3KooW\S+ {2}campus {2}bj-1/)
    expect(text).toContain(`origin ${origin.url} (ok)`)
    // the daemon's default floor keeps 1 GiB free on the disk: what this disk allows is said
    expect(text).toMatch(
      /store: 0\.6 MiB in \d+ chunks \(no quota, at most \d+\.\d MiB by the disk's free-space floor, \d+\.\d MiB pinned\)/,
    )
    expect(text).toContain('rates: upload 1.0 MiB/s, download none, origin none')
    const row = out.find((l) => l.includes(cid.slice(0, 12)))
    // all of it from the origin: no other peer had it
    expect(row).toMatch(/100% of 0\.6 MiB .*from peers 0\.0 MiB, from origin 0\.6 MiB {2}complete$/)
    // --json: the daemon's answer as it is
    const json: string[] = []
    await runStatusCommand(['--node', api, '--json'], { stdout: (l) => json.push(l), env: {} })
    expect(JSON.parse(json.join('\n'))).toMatchObject({
      campus: 'bj-1',
      swarms: [{ manifestCid: cid, complete: true }],
    })
  })

  it('says which node it could not reach, and refuses a stray argument', async () => {
    const port = await closedPort()
    await expect(
      runStatusCommand(['--node', `http://127.0.0.1:${port}`], { stdout: () => {}, env: {} }),
    ).rejects.toMatchObject({
      name: 'NodeUnreachableError',
      message: expect.stringContaining(`127.0.0.1:${port}`),
    })
    await expect(runStatusCommand(['extra'], { stdout: () => {}, env: {} })).rejects.toMatchObject({
      code: 'ERR_INVALID_CONFIG',
    })
  })
})
