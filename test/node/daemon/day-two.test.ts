/**
 * A district's operations team after the first start: a dead node replaced by a new
 * machine under its id, a node re-configured with another id, an origin key rotated out too
 * early, a download that outlives `dandelion fetch`, and misspelt settings. Each time the
 * daemon says what happened and what to change, where it used to say nothing or too little.
 */
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { afterEach, describe, expect, it } from 'vitest'
import { runFetchCommand } from '../../../node/daemon/api-commands.ts'
import { runNodeCommand } from '../../../node/daemon/cli.ts'
import { resolveConfig } from '../../../node/daemon/config.ts'
import { fromFile } from '../../../node/daemon/config-sources.ts'
import { ENROLL, Harness as TrackerHarness } from '../../tracker/harness.ts'
import { closedPort, LOCAL_FLAGS, TRUSTED_ORIGIN } from '../utils/cli.ts'
import { Harness, originKey, until } from '../utils/harness.ts'
import { originWithLesson } from '../utils/origin.ts'

describe('node daemon: day-two operations', () => {
  const h = new Harness()
  const trackers = new TrackerHarness()
  const closers: Array<() => Promise<unknown>> = []
  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close().catch(() => {})
    await trackers.teardown()
    await h.teardown()
  })

  /** Starts a daemon on `dataDir` in this process; its stdout and stderr lines and its stop. */
  async function daemon(dataDir: string, argv: string[], env: NodeJS.ProcessEnv = {}) {
    const lines: string[] = []
    const errors: string[] = []
    const abort = new AbortController()
    const done = runNodeCommand([...LOCAL_FLAGS, ...argv], {
      env: { DANDELION_DATA: dataDir, ...env },
      stdout: (l) => lines.push(l),
      stderr: (l) => errors.push(l),
      signal: abort.signal,
    })
    const stop = async () => {
      abort.abort()
      await done
    }
    closers.push(stop)
    await until(() => lines.some((l) => l.includes('"ready"')))
    const ready = JSON.parse(lines.find((l) => l.includes('"ready"'))!) as { api: string }
    return { lines, errors, ready, stop }
  }

  /** The first line of `event` in `lines`, once it is there. */
  async function line(lines: string[], event: string): Promise<Record<string, unknown>> {
    const tag = `"event":"${event}"`
    await until(() => lines.some((l) => l.includes(tag)))
    return JSON.parse(lines.find((l) => l.includes(tag))!) as Record<string, unknown>
  }

  async function seededTracker() {
    const t = await trackers.tracker({ dataDir: await trackers.tmp() })
    await trackers.seed(t)
    const agent = ['--trusted-origin', TRUSTED_ORIGIN, '--tracker', t.channelUrl, '--tracker-id', t.trackerId]
    return { t, agent }
  }

  it('a replacement machine under a dead node’s id is told how to free the id, and where to see what it then gets', {
    timeout: 30_000,
  }, async () => {
    const { agent } = await seededTracker()
    const enroll = [...agent, '--campus', 'bj-1', '--node-id', 'bj-1-n1', '--enroll-token', ENROLL]
    const old = await daemon(await h.tempDir(), enroll)
    await line(old.lines, 'tracker')
    await old.stop()
    // the new machine: a fresh data directory (a new key) under the same node id
    const replacement = await daemon(await h.tempDir(), enroll)
    const refused = await line(replacement.lines, 'tracker-refused')
    expect(refused).toMatchObject({ code: 'ERR_NODE_TAKEN' })
    // before, no hint: "node bj-1-n1 is bound to another peer" alone
    expect(refused.hint).toEqual(expect.stringContaining('DELETE /api/v1/nodes/bj-1-n1/peer'))
    expect(refused.hint).toEqual(expect.stringContaining('peer.key'))
    expect(refused.hint).toEqual(expect.stringContaining('/api/v1/nodes/bj-1-n1/resources'))
  })

  it('a node restarted with another node id is told the tracker knows it by its first one', {
    timeout: 30_000,
  }, async () => {
    const { agent } = await seededTracker()
    const dir = await h.tempDir()
    const first = await daemon(dir, [
      ...agent,
      '--campus',
      'bj-1',
      '--node-id',
      'bj-1-a',
      '--enroll-token',
      ENROLL,
    ])
    await line(first.lines, 'tracker')
    await first.stop()
    // moved to another campus, with a new id: enrollment is not sent again
    const again = await daemon(dir, [
      ...agent,
      '--campus',
      'sh-1',
      '--node-id',
      'sh-1-a',
      '--enroll-token',
      ENROLL,
    ])
    expect(await line(again.lines, 'tracker')).toMatchObject({ nodeId: 'bj-1-a' })
    const told = await line(again.lines, 'tracker-enrolled-as')
    expect(told).toMatchObject({ nodeId: 'bj-1-a', configured: 'sh-1-a' })
    expect(told.message).toEqual(expect.stringContaining('PATCH /api/v1/nodes/bj-1-a'))
  })

  it('content signed by an origin key no longer trusted is reported at start, not just left unplayable', {
    timeout: 30_000,
  }, async () => {
    const { origin, cid, signer } = await originWithLesson(h, 'origin-token-day-two')
    closers.push(() => origin.close())
    const dir = await h.tempDir()
    const trusting = await daemon(dir, ['--origin', origin.url, '--trusted-origin', signer])
    await runFetchCommand([cid, '--node', trusting.ready.api, '--data', dir], { stdout: () => {}, env: {} })
    expect(trusting.lines.some((l) => l.includes('untrusted-content'))).toBe(false)
    await trusting.stop()
    // the old key rotated out of --trusted-origin while the node still holds what it signed
    const newKey = peerIdFromPrivateKey(await originKey()).toString()
    const rotated = await daemon(dir, ['--origin', origin.url, '--trusted-origin', newKey])
    const told = await line(rotated.lines, 'untrusted-content')
    expect(told).toMatchObject({ signer, count: 1, manifests: [cid] })
    expect(told.message).toEqual(expect.stringContaining('--trusted-origin'))
  })

  it('a quota lowered below the content the node must keep is said at start', {
    timeout: 30_000,
  }, async () => {
    const { origin, cid, signer } = await originWithLesson(h, 'origin-token-day-two-3')
    closers.push(() => origin.close())
    const dir = await h.tempDir()
    // content placed and pinned (as the tracker's agent does), by the library on the same directory
    const node = await h.spawn({ dataDir: dir, originUrl: origin.url, listen: ['/ip4/127.0.0.1/tcp/0'] })
    await node.fetch(cid)
    await node.pin(cid)
    const pinned = node.status().store.pinnedBytes
    await node.stop()
    const d = await daemon(dir, ['--trusted-origin', signer, '--quota-bytes', String(Math.floor(pinned / 2))])
    const told = await line(d.lines, 'over-quota')
    expect(told).toMatchObject({ pinnedBytes: pinned, quotaBytes: Math.floor(pinned / 2) })
    expect(told.message).toEqual(expect.stringContaining('--quota-bytes'))
    // within its quota: nothing to say
    const roomy = await daemon(await h.tempDir(), ['--trusted-origin', signer, '--quota-bytes', '1000000'])
    expect(roomy.lines.some((l) => l.includes('over-quota'))).toBe(false)
  })

  it("a disk below the node's free-space floor is said at start, and a placement stops naming the floor", {
    timeout: 30_000,
  }, async () => {
    const { origin, cid, signer } = await originWithLesson(h, 'origin-token-day-two-4')
    closers.push(() => origin.close())
    const dir = await h.tempDir()
    // a floor no disk here has: a petabyte kept free
    const floor = String(10 ** 15)
    const d = await daemon(dir, [
      '--origin',
      origin.url,
      '--trusted-origin',
      signer,
      '--min-free-disk-bytes',
      floor,
    ])
    const told = await line(d.lines, 'low-disk')
    expect(told).toMatchObject({ minFreeDiskBytes: 10 ** 15 })
    expect(told.message).toEqual(expect.stringContaining('--min-free-disk-bytes'))
    await expect(
      runFetchCommand([cid, '--node', d.ready.api, '--data', dir], { stdout: () => {}, env: {} }),
    ).rejects.toMatchObject({
      message: expect.stringMatching(/kept free on the disk of .*--min-free-disk-bytes/),
    })
    // the default floor (1 GiB) on a disk with room: nothing to say
    const roomy = await daemon(await h.tempDir(), ['--trusted-origin', signer])
    expect(roomy.lines.some((l) => l.includes('low-disk'))).toBe(false)
  })

  it('`fetch` that gives up says the node goes on looking for the content', { timeout: 30_000 }, async () => {
    const { origin, cid, signer } = await originWithLesson(h, 'origin-token-day-two-2')
    await origin.close()
    // the node's origin is down: no manifest anywhere
    const port = await closedPort()
    const dir = await h.tempDir()
    const d = await daemon(dir, ['--origin', `http://127.0.0.1:${port}`, '--trusted-origin', signer])
    await expect(
      runFetchCommand([cid, '--node', d.ready.api, '--data', dir, '--start-timeout', '1'], {
        stdout: () => {},
        env: {},
      }),
    ).rejects.toMatchObject({
      name: 'FetchNotStartedError',
      message: expect.stringContaining('keeps looking for it'),
    })
  })

  it('misspelt settings: a file key and a variable are named with the setting meant', async () => {
    const dir = await h.tempDir()
    const file = `${dir}/node.json`
    const { writeFile } = await import('node:fs/promises')
    await writeFile(file, JSON.stringify({ quotaByte: 5, trustAnyOrigin: true }))
    await expect(fromFile(file)).rejects.toMatchObject({
      code: 'ERR_INVALID_CONFIG',
      message: expect.stringMatching(new RegExp(`${file}.*"quotaByte".*did you mean "quotaBytes"`)),
    })
    expect(() => resolveConfig({ data: dir, trustAnyOrigin: true, playbakPort: 1 } as object)).toThrow(
      /did you mean "playbackPort"/,
    )
    // a misspelt variable left the port at its default without a word
    const d = await daemon(dir, ['--trusted-origin', TRUSTED_ORIGIN], { DANDELION_PLAYBAK_PORT: '1' })
    expect(d.errors.join('\n')).toMatch(/DANDELION_PLAYBAK_PORT .*did you mean DANDELION_PLAYBACK_PORT/)
    // the other services' variables in the same environment are not misspellings of the node's
    const quiet = await daemon(await h.tempDir(), ['--trusted-origin', TRUSTED_ORIGIN], {
      DANDELION_ADMIN_TOKEN: 'x',
      DANDELION_NODE_URL: 'http://127.0.0.1:1',
      DANDELION_ORIGIN_PORT: '1',
      DANDELION_TRACKER_URL: 'http://127.0.0.1:1',
    })
    expect(quiet.errors).toEqual([])
  })
})
