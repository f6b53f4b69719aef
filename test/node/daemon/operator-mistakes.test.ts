/**
 * Mistakes an operator following the READMEs is likely to make with the node daemon and
 * its commands, and what they are told: each message names the setting to fix.
 */
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { afterEach, describe, expect, it } from 'vitest'
import { runFetchCommand, runLimitsCommand } from '../../../node/daemon/api-commands.ts'
import { runNodeCommand } from '../../../node/daemon/cli.ts'
import { resolveConfig } from '../../../node/daemon/config.ts'
import { DANDELION_VERSION } from '../../../node/version.ts'
import { createTracker } from '../../../tracker/index.ts'
import { CLI, closedPort, LOCAL_FLAGS, TRUSTED_ORIGIN } from '../utils/cli.ts'
import { Harness, originKey, until } from '../utils/harness.ts'
import { originWithLesson } from '../utils/origin.ts'

/** Runs `dandelion ...args` and collects its output. */
async function dandelion(
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString()
  })
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString()
  })
  const [code] = (await once(child, 'exit')) as [number | null]
  return { code, stdout, stderr }
}

describe('node daemon: operator mistakes', () => {
  const h = new Harness()
  const closers: Array<() => Promise<unknown>> = []
  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close().catch(() => {})
    await h.teardown()
  })

  /** Starts a daemon in this process; its output lines and a function that stops it. */
  async function daemon(argv: string[], trackerWaitWarnMs?: number) {
    const lines: string[] = []
    const stop = new AbortController()
    const dataDir = await h.tempDir()
    const done = runNodeCommand([...LOCAL_FLAGS, ...argv], {
      env: { DANDELION_DATA: dataDir },
      stdout: (l) => lines.push(l),
      stderr: () => {},
      signal: stop.signal,
      trackerWaitWarnMs,
    })
    closers.push(async () => {
      stop.abort()
      await done
    })
    await until(() => lines.some((l) => l.includes('"ready"')))
    const ready = JSON.parse(lines.find((l) => l.includes('"ready"'))!) as { api: string }
    return { lines, ready, dataDir }
  }

  it("lists every release command, takes -h wherever it takes --help, and names the rtc secret's setting", async () => {
    const top = await dandelion(['--help'])
    expect(top.stdout).toMatch(/release .*list .*abort .*rollback/)
    expect(top.stdout).toMatch(/enroll-token .*create \| list \| revoke/)
    const version = await dandelion(['--version'])
    expect(version.stdout).toMatch(/^dandelion \d+\.\d+\.\d+ \(node \d+\.\d+\.\d+\)\n$/)
    const help: string[] = []
    await runNodeCommand(['-h'], { stdout: (l) => help.push(l) })
    await runFetchCommand(['-h'], { stdout: (l) => help.push(l) })
    await runLimitsCommand(['-h'], { stdout: (l) => help.push(l) })
    expect(help.join('\n')).toMatch(/dandelion node[\s\S]*dandelion fetch[\s\S]*dandelion limits/)
    const rtc = await dandelion(['rtc', '-h'])
    expect(rtc.code).toBe(0)
    expect(rtc.stdout).toContain('usage: dandelion rtc')
    // no secret: the schema's "/ must have required property 'secret'" named no flag
    const { DANDELION_RTC_SECRET: _secret, ...noSecret } = process.env
    const unset = await dandelion(['rtc', '--port', '0'], noSecret)
    expect(unset.code).toBe(2)
    expect(unset.stderr).toMatch(/DANDELION_RTC_SECRET.*--secret/)
  })

  it('names the flag of a missing data directory, and refuses a tracker URL without the channel path', () => {
    expect(() => resolveConfig({ trustedOrigins: [TRUSTED_ORIGIN] })).toThrow(
      /'data' \(--data, DANDELION_DATA/,
    )
    // the tracker's `url` instead of its `channelUrl`: the agent retried it without a word
    for (const url of ['ws://127.0.0.1:7070', 'ws://127.0.0.1:7070/'])
      expect(() => resolveConfig({ data: '/a', trustedOrigins: [TRUSTED_ORIGIN], trackers: [url] })).toThrow(
        /names no path: the command channel is at ws:\/\/127\.0\.0\.1:7070\/channel.*--tracker/,
      )
    expect(
      resolveConfig({
        data: '/a',
        trustedOrigins: [TRUSTED_ORIGIN],
        trackers: ['ws://127.0.0.1:7070/channel'],
      }).trackers,
    ).toEqual(['ws://127.0.0.1:7070/channel'])
  })

  it('says which setting a tracker refusal is about, and when no tracker answers at all', {
    timeout: 30_000,
  }, async () => {
    const tracker = await createTracker({
      dataDir: await h.tempDir(),
      adminToken: 'admin-token-mistakes',
      enrollmentToken: 'enroll-token-mistakes',
      port: 0,
    })
    closers.push(() => tracker.close())
    const agent = [
      '--trusted-origin',
      TRUSTED_ORIGIN,
      '--tracker',
      tracker.channelUrl,
      '--tracker-id',
      tracker.trackerId,
    ]
    const refusal = async (lines: string[]) => {
      await until(() => lines.some((l) => l.includes('"tracker-refused"')))
      return JSON.parse(lines.find((l) => l.includes('"tracker-refused"'))!) as {
        code: string
        hint?: string
      }
    }

    // the campus was never created in the tracker's inventory
    const noCampus = await daemon([...agent, '--campus', 'bj-1', '--enroll-token', 'enroll-token-mistakes'])
    expect(await refusal(noCampus.lines)).toMatchObject({
      code: 'ERR_NOT_FOUND',
      hint: expect.stringContaining('POST /api/v1/campuses'),
    })
    // no enrollment token: refused as not enrolled, with the flag named in the hint
    const noToken = await daemon(agent)
    expect(await refusal(noToken.lines)).toMatchObject({
      code: 'ERR_NOT_ENROLLED',
      hint: expect.stringContaining('--enroll-token'),
    })

    // a token the operator issued for one machine, used for a second one: the hint says
    // where a new one comes from
    const campus = { method: 'POST', headers: { authorization: 'Bearer admin-token-mistakes' } }
    await tracker.app.inject({ ...campus, url: '/api/v1/cities', payload: { id: 'bj', name: 'Beijing' } })
    await tracker.app.inject({
      ...campus,
      url: '/api/v1/campuses',
      payload: { id: 'bj-2', city: 'bj', name: 'B2' },
    })
    const issued = await tracker.app.inject({
      ...campus,
      url: '/api/v1/enrollment-tokens',
      payload: { campus: 'bj-2', maxUses: 1 },
    })
    const { token } = issued.json() as { token: string }
    const first = await daemon([...agent, '--enroll-token', token])
    await until(() => first.lines.some((l) => l.includes('"event":"tracker"')))
    // the daemon reports its version, which the tracker's inventory shows
    await until(() =>
      [...tracker.state.committed.inventory.nodes.values()].some((n) => n.version === DANDELION_VERSION),
    )
    const second = await daemon([...agent, '--enroll-token', token])
    expect(await refusal(second.lines)).toMatchObject({
      code: 'ERR_ENROLLMENT_TOKEN_USED_UP',
      hint: expect.stringContaining('dandelion enroll-token create'),
    })

    // a wrong port: nothing answers, and until now nothing was said
    const port = await closedPort()
    const silent = await daemon(
      ['--trusted-origin', TRUSTED_ORIGIN, '--tracker', `ws://127.0.0.1:${port}/channel`],
      300,
    )
    await until(() => silent.lines.some((l) => l.includes('"tracker-waiting"')))
    const waiting = JSON.parse(silent.lines.find((l) => l.includes('"tracker-waiting"'))!) as {
      trackers: string[]
      message: string
    }
    expect(waiting.trackers).toEqual([`ws://127.0.0.1:${port}/channel`])
    expect(waiting.message).toContain('channelUrl')
  })

  it('`fetch` points at the trusted origin key when the origin fails, and a malformed CID exits 2', {
    timeout: 30_000,
  }, async () => {
    const { origin, cid } = await originWithLesson(h, 'origin-token-mistakes')
    closers.push(() => origin.close())

    // the node trusts another key than the origin's (a key copied from the wrong banner, say)
    const { ready, dataDir } = await daemon([
      '--origin',
      origin.url,
      '--trusted-origin',
      peerIdFromPrivateKey(await originKey()).toString(),
    ])
    const fetchCli = (cid: string) =>
      runFetchCommand([cid, '--node', ready.api, '--data', dataDir, '--start-timeout', '2'], {
        stdout: () => {},
        env: {},
      })
    // the origin has the manifest, but it does not verify here: "no peer or origin has it"
    // alone sent the operator looking for a missing upload
    await expect(fetchCli(cid)).rejects.toMatchObject({
      name: 'FetchNotStartedError',
      message: expect.stringMatching(
        new RegExp(`origin ${origin.url} has failed \\d+ times in a row.*--trusted-origin`),
      ),
    })
    // a mistyped CID is a bad argument: exit 2, not a failure of the daemon
    await expect(fetchCli('not-a-cid')).rejects.toMatchObject({
      code: 'ERR_INVALID_CONFIG',
      message: expect.stringContaining('not-a-cid'),
    })
  })
})
