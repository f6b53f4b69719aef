/**
 * The node daemon as a real child process (`dandelion node --tracker …`) enrolls with a
 * real tracker and executes a release: the content comes from a real origin and the
 * daemon's playback server serves it by resource name.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { publicKeyToProtobuf } from '@libp2p/crypto/keys'
import { afterEach, describe, expect, it } from 'vitest'
import { resolveConfig } from '../../../node/daemon/config.ts'
import { fromEnv } from '../../../node/daemon/config-sources.ts'
import { deriveNodeId } from '../../../node/daemon/tracker-agent.ts'
import { createOrigin, type Origin } from '../../../origin/index.ts'
import { registerWithTracker } from '../../../origin/tracker-registration.ts'
import { createTracker, type Tracker } from '../../../tracker/index.ts'

const CLI = fileURLToPath(new URL('../../../node/cli.ts', import.meta.url))
const ADMIN = 'admin-token-daemon-test'
const ENROLL = 'enroll-token-daemon-test'

const dirs: string[] = []
const procs: ChildProcess[] = []
const closers: Array<() => Promise<unknown> | unknown> = []

afterEach(async () => {
  for (const p of procs.splice(0)) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL')
  for (const close of closers.splice(0).reverse()) await Promise.resolve(close()).catch(() => {})
  await Promise.allSettled(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })))
})

const tmp = async (): Promise<string> => {
  const d = await mkdtemp(join(tmpdir(), 'dandelion-daemon-'))
  dirs.push(d)
  return d
}

// biome-ignore lint/suspicious/noExplicitAny: test helper returning whatever JSON the API answers
async function api(t: Tracker, method: string, path: string, body?: unknown): Promise<any> {
  const res = await fetch(`${t.url}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  if (!res.ok) throw new Error(`${method} ${path} → ${res.status} ${await res.text()}`)
  return res.json()
}

async function until(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (await check()) return
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`timed out waiting for ${what}`)
}

describe('node daemon with a tracker', () => {
  it('enrolls with the tracker, places and activates a release, serves it by name, stops on SIGTERM', {
    timeout: 60_000,
  }, async () => {
    const tracker = await createTracker({
      dataDir: await tmp(),
      adminToken: ADMIN,
      enrollmentToken: ENROLL,
      port: 0,
      retransmitInitialMs: 200,
    })
    closers.push(() => tracker.close())
    await api(tracker, 'POST', '/cities', { id: 'bj', name: 'Beijing' })
    await api(tracker, 'POST', '/campuses', { id: 'bj-1', city: 'bj', name: 'BJ one' })

    const origin: Origin = await createOrigin({
      dataDir: await tmp(),
      token: 'origin-token',
      port: 0,
      chunkSize: 256 * 1024,
      hashWorkers: 1,
      minFreeDiskBytes: 0,
    })
    closers.push(() => origin.close())
    closers.push(registerWithTracker(origin, { trackerUrl: tracker.url, token: ADMIN }))
    const bytes = randomBytes(3 * 1024 * 1024 + 17)
    const file = join(await tmp(), 'lesson.mp4')
    await writeFile(file, bytes)
    const published = await origin.ingestFile(file, { name: 'lesson', type: 'video', mime: 'video/mp4' })

    const proc = spawn(
      process.execPath,
      [
        CLI,
        'node',
        '--listen',
        '/ip4/127.0.0.1/tcp/0',
        '--playback-port',
        '0',
        '--no-dht',
        '--campus',
        'bj-1',
        '--city',
        'bj',
        '--origin',
        origin.url,
        '--trusted-origin',
        Buffer.from(publicKeyToProtobuf(origin.publicKey)).toString('base64'),
        '--tracker',
        tracker.channelUrl,
        '--tracker-id',
        tracker.trackerId,
        '--labels',
        'lab,floor-2',
      ],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
        env: { ...process.env, DANDELION_DATA: await tmp(), DANDELION_ENROLLMENT_TOKEN: ENROLL },
      },
    )
    procs.push(proc)
    const lines: string[] = []
    createInterface({ input: proc.stdout! }).on('line', (l) => lines.push(l))
    const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)))
    await until(() => lines.some((l) => l.includes('"ready"')), 'daemon ready')
    const ready = JSON.parse(lines.find((l) => l.includes('"ready"'))!) as {
      api: string
      peerId: string
      nodeId: string
    }
    expect(ready.nodeId).toBe(deriveNodeId('bj-1', ready.peerId))
    await until(() => lines.some((l) => l.includes('"event":"tracker"')), 'agent connected')
    // the tracker bound the node id to the daemon's PeerId: the agent uses the node's key
    expect(tracker.state.inventory.nodes.get(ready.nodeId)).toMatchObject({
      peerId: ready.peerId,
      campus: 'bj-1',
      labels: ['lab', 'floor-2'],
    })
    // the tracker's signed statement of its campus and city: shown in its swarm hellos
    await until(
      async () =>
        ((await (await fetch(`${ready.api}/status`)).json()) as { membership?: unknown }).membership !==
        undefined,
      'membership statement',
    )
    expect(await (await fetch(`${ready.api}/status`)).json()).toMatchObject({
      campus: 'bj-1',
      city: 'bj',
      membership: { tracker: tracker.trackerId, nodeId: ready.nodeId },
    })

    await until(
      async () => (await api(tracker, 'GET', '/resources/lesson/versions')).length === 1,
      'version registered',
    )
    await api(tracker, 'POST', `/resources/lesson/versions/${published.version}/approve`)
    const rel = await api(tracker, 'POST', '/releases', {
      resource: 'lesson',
      version: published.version,
      targets: { campuses: ['bj-1'] },
    })
    await until(
      async () => (await api(tracker, 'GET', `/releases/${rel.id}`)).release.status === 'completed',
      'release completed',
    )
    const status = await api(tracker, 'GET', `/releases/${rel.id}`)
    expect(status.counts.active).toBe(1)
    expect(status.bytes.origin).toBe(bytes.length)
    const served = await fetch(`${ready.api}/content/by-name/lesson`)
    expect(served.status).toBe(200)
    expect(Buffer.from(await served.arrayBuffer()).equals(bytes)).toBe(true)

    proc.kill('SIGTERM')
    expect(await exited).toBe(0)
    expect(lines.at(-1)).toContain('"stopped"')
  })

  it('rejects tracker addresses that are not ws(s):// and lists the options in --help', async () => {
    const { runNodeCommand } = await import('../../../node/daemon/cli.ts')
    const help: string[] = []
    await runNodeCommand(['--help'], { stdout: (l) => help.push(l) })
    expect(help.join('\n')).toMatch(/--tracker URL[\s\S]*--enroll-token[\s\S]*--node-id[\s\S]*--labels/)
    await expect(
      runNodeCommand(['--tracker', 'http://127.0.0.1:1/channel', '--trust-any-origin'], {
        env: { DANDELION_DATA: await tmp() },
        stdout: () => {},
      }),
    ).rejects.toThrow(/trackers/)
    const config = resolveConfig(
      fromEnv({
        DANDELION_DATA: '/a',
        DANDELION_TRUST_ANY_ORIGIN: 'yes',
        DANDELION_TRACKERS: 'ws://a:7070/channel, wss://b/channel',
        DANDELION_LABELS: 'lab,gym',
      }),
    )
    expect(config.trackers).toEqual(['ws://a:7070/channel', 'wss://b/channel'])
    expect(config.labels).toEqual(['lab', 'gym'])
    expect(() => resolveConfig({ data: '/a', nodeId: 'has space' })).toThrow(/nodeId/)
    // the tracker key to obey: an ed25519 PeerId, named clearly when it is not one
    const trackerId = '12D3KooWLceXSNmfQPHH9CabxXo4ZDjEPZiMpcJgQVPMT3pq7S9y'
    expect(
      resolveConfig(
        fromEnv({
          DANDELION_DATA: '/a',
          DANDELION_TRUST_ANY_ORIGIN: 'yes',
          DANDELION_TRACKER_IDS: trackerId,
        }),
      ).trackerIds,
    ).toEqual([trackerId])
    expect(() => resolveConfig({ data: '/a', trustAnyOrigin: true, trackerIds: ['not-a-peer-id'] })).toThrow(
      /not an ed25519 PeerId \(--tracker-id, DANDELION_TRACKER_IDS/,
    )
  })
})
