/**
 * A node started with the wrong `--trusted-origin` (a key copied from another banner):
 * the origin's manifests are signed by a key it does not trust. The lookup ends at once,
 * is logged at error level once, the origin is not asked for that manifest again, and the
 * daemon's `GET /status` names the signer on the swarm, whoever asked for the content
 * (`dandelion fetch`, or the tracker).
 */
import { format } from 'node:util'
import type { Logger } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { parseCid, verifyManifest } from '../../../node/content/index.ts'
import { runFetchCommand } from '../../../node/daemon/api-commands.ts'
import { runNodeCommand } from '../../../node/daemon/cli.ts'
import { ManifestLoader } from '../../../node/manifest-loader.ts'
import { MemoryChunkStore } from '../../../node/store/index.ts'
import { WebSeed } from '../../../node/swarm/web-seed.ts'
import type { Origin } from '../../../origin/index.ts'
import { ENROLL, Harness as TrackerHarness } from '../../tracker/harness.ts'
import { Harness, originKey, until } from '../utils/harness.ts'
import { originWithLesson } from '../utils/origin.ts'

const API_TOKEN = 'untrusted-origin-api-token'
const LOCAL = [
  '--listen',
  '/ip4/127.0.0.1/tcp/0',
  '--playback-port',
  '0',
  '--no-dht',
  '--api-token',
  API_TOKEN,
]

interface SwarmEntry {
  manifestCid: string
  chunksTotal: number
  complete: boolean
  error?: string
}

describe('a node that does not trust the origin signing the manifests', () => {
  const h = new Harness()
  const trackers = new TrackerHarness()
  const closers: Array<() => Promise<unknown>> = []
  afterEach(async () => {
    vi.unstubAllGlobals()
    for (const close of closers.splice(0).reverse()) await close().catch(() => {})
    await trackers.teardown()
    await h.teardown()
  })

  /** A real origin with one published lesson; its manifest CID and the origin's key as printed. */
  async function publishedLesson(): Promise<{ origin: Origin; cid: string; signer: string }> {
    const lesson = await originWithLesson(h, 'origin-token-untrusted')
    closers.push(() => lesson.origin.close())
    return lesson
  }

  /** The real `fetch`, counting the requests for manifests that reach the origin. */
  function countManifestRequests(): { readonly count: number } {
    const counter = { count: 0 }
    const real = globalThis.fetch
    vi.stubGlobal('fetch', async (url: string | URL | Request, init?: RequestInit) => {
      if (String(url).includes('/manifests/')) counter.count++
      return await real(url, init)
    })
    return counter
  }

  /** Starts a daemon in this process; its API URL. */
  async function daemon(argv: string[], env: NodeJS.ProcessEnv = {}): Promise<{ api: string }> {
    const lines: string[] = []
    const stop = new AbortController()
    const dataDir = await h.tempDir()
    const done = runNodeCommand([...LOCAL, ...argv], {
      env: { DANDELION_DATA: dataDir, ...env },
      stdout: (l) => lines.push(l),
      stderr: () => {},
      signal: stop.signal,
    })
    closers.push(async () => {
      stop.abort()
      await done
    })
    await until(() => lines.some((l) => l.includes('"ready"')))
    return { api: (JSON.parse(lines.find((l) => l.includes('"ready"'))!) as { api: string }).api }
  }

  const swarmOf = async (api: string, cid: string): Promise<SwarmEntry | undefined> =>
    ((await (await fetch(`${api}/status`)).json()) as { swarms: SwarmEntry[] }).swarms.find(
      (s) => s.manifestCid === cid,
    )

  it('ends the lookup at once, logs it at error level once, and does not ask the origin again', async () => {
    const { origin, cid, signer } = await publishedLesson()
    const requests = countManifestRequests()
    const trusted = await originKey()
    const errors: string[] = []
    const log = Object.assign(() => {}, {
      enabled: false,
      error: (fmt: string, ...args: unknown[]) => errors.push(format(fmt, ...args)),
      trace: () => {},
      newScope: () => log,
    }) as unknown as Logger
    let abandoned = 0
    const loader = new ManifestLoader(
      {
        store: new MemoryChunkStore(),
        webSeed: new WebSeed({ url: origin.url }),
        log,
        verify: async (c, bytes) => await verifyManifest(bytes, { cid: c, trustedKeys: [trusted.publicKey] }),
        // no peer has it
        fromPeers: () => new Promise(() => {}),
        abandoned: () => {
          abandoned++
        },
      },
      { originRetryMs: 10 },
    )
    try {
      for (let i = 0; i < 3; i++) {
        // bounded: the lookup used to ask the origin again and again, for ever
        await expect(
          loader.get(parseCid(cid, 'manifest'), { capped: false, signal: AbortSignal.timeout(10_000) }),
        ).rejects.toMatchObject({ name: 'UntrustedManifestError', code: 'ERR_MANIFEST_UNTRUSTED', signer })
      }
    } finally {
      loader.stop()
    }
    expect(requests.count).toBe(1)
    expect(errors).toHaveLength(1)
    expect(errors[0]).toContain(`signed by origin key ${signer}, which this node does not trust`)
    // nobody is left waiting: each caller's swarm may go
    expect(abandoned).toBe(3)
  })

  it('`dandelion fetch`: status names the signer on the swarm, fetch says so, and the origin is asked once', {
    timeout: 30_000,
  }, async () => {
    const { origin, cid, signer } = await publishedLesson()
    const requests = countManifestRequests()
    const { api } = await daemon([
      '--origin',
      origin.url,
      '--trusted-origin',
      peerIdFromPrivateKey(await originKey()).toString(),
    ])
    const place = async (): Promise<void> => {
      const res = await fetch(`${api}/fetch/${cid}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${API_TOKEN}` },
      })
      expect(res.status).toBe(202)
    }
    await place()
    await until(async () => (await swarmOf(api, cid))?.error !== undefined, 10_000)
    const swarm = await swarmOf(api, cid)
    expect(swarm).toMatchObject({ chunksTotal: 0, complete: false })
    expect(swarm!.error).toContain(`signed by origin key ${signer}, which this node does not trust`)
    expect(swarm!.error).toContain('--trusted-origin')

    // the operator asks again, and follows it with `dandelion fetch`: told why at once
    await place()
    await expect(
      runFetchCommand([cid, '--node', api, '--token', API_TOKEN, '--start-timeout', '20'], {
        stdout: () => {},
        env: {},
      }),
    ).rejects.toMatchObject({
      name: 'FetchNotStartedError',
      message: expect.stringContaining(`signed by origin key ${signer}, which this node does not trust`),
    })
    // every copy of the manifest has that signer: the origin was not asked for it again
    expect(requests.count).toBe(1)
    expect((await swarmOf(api, cid))?.error).toContain(signer)
  })

  it("a tracker's placement: status names the signer on the swarm of the placed version", {
    timeout: 30_000,
  }, async () => {
    const { origin, cid, signer } = await publishedLesson()
    const tracker = await trackers.tracker()
    await trackers.api(tracker, 'POST', '/cities', { id: 'bj', name: 'Beijing' })
    await trackers.api(tracker, 'POST', '/campuses', { id: 'bj-1', city: 'bj', name: 'BJ one' })
    const manifest = await origin.manifest(cid)
    await trackers.api(tracker, 'POST', '/resources/lesson/versions', {
      version: 1,
      manifestCid: cid,
      size: manifest.size,
      type: 'video',
    })
    await trackers.api(tracker, 'POST', '/resources/lesson/versions/1/approve')
    const { api } = await daemon(
      [
        '--campus',
        'bj-1',
        '--city',
        'bj',
        '--origin',
        origin.url,
        '--trusted-origin',
        peerIdFromPrivateKey(await originKey()).toString(),
        '--tracker',
        tracker.channelUrl,
        '--tracker-id',
        tracker.trackerId,
      ],
      { DANDELION_ENROLLMENT_TOKEN: ENROLL },
    )
    await until(() => tracker.state.inventory.nodes.size === 1)
    await trackers.api(tracker, 'POST', '/releases', {
      resource: 'lesson',
      version: 1,
      targets: { campuses: ['bj-1'] },
    })
    await until(async () => (await swarmOf(api, cid))?.error !== undefined, 10_000)
    expect((await swarmOf(api, cid))!.error).toContain(
      `signed by origin key ${signer}, which this node does not trust`,
    )
  })
})
