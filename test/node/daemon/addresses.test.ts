/**
 * The node daemon's addresses: IPv6 end to end (origin, campus node, a lamp over
 * WebRTC-Direct, the local API), the settings refused because a transport is off, and an
 * address that could not be listened on, said on stderr.
 */
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { afterEach, describe, expect, it } from 'vitest'
import { runFetchCommand } from '../../../node/daemon/api-commands.ts'
import { runNodeCommand } from '../../../node/daemon/cli.ts'
import { resolveConfig } from '../../../node/daemon/config.ts'
import { runStatusCommand } from '../../../node/daemon/status-command.ts'
import type { NodeStatus } from '../../../node/index.ts'
import { createOrigin, type Origin } from '../../../origin/index.ts'
import { attachSeeder, type Seeder } from '../../../origin/seeder.ts'
import { registerWithTracker } from '../../../origin/tracker-registration.ts'
import { createTracker } from '../../../tracker/index.ts'
import { CLI, exitAndStderr, killGroups, TRUSTED_ORIGIN } from '../utils/cli.ts'
import { Harness, randomContent, TEST_CHUNK_SIZE, until } from '../utils/harness.ts'
import { inNetns } from '../utils/netns.ts'

const h = new Harness()
const stops: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop()
  await h.teardown()
})

interface Daemon {
  ready: { api: string; peerId: string; multiaddrs: string[] }
  stderr: string[]
  dataDir: string
}

/** Runs `dandelion node` in this process until the test ends. */
async function daemon(argv: string[]): Promise<Daemon> {
  const dataDir = await h.tempDir()
  const lines: string[] = []
  const stderr: string[] = []
  const stop = new AbortController()
  const done = runNodeCommand([...argv, '--data', dataDir, '--playback-port', '0', '--no-dht'], {
    env: {},
    stdout: (l) => lines.push(l),
    stderr: (l) => stderr.push(l),
    signal: stop.signal,
  })
  let failed: Error | undefined
  done.catch((err: Error) => {
    failed = err
  })
  stops.push(async () => {
    stop.abort()
    await done.catch(() => {})
  })
  await until(() => failed !== undefined || lines.some((l) => l.includes('"ready"')), 20_000)
  if (failed !== undefined) throw failed
  return { ready: JSON.parse(lines.find((l) => l.includes('"ready"'))!) as Daemon['ready'], stderr, dataDir }
}

async function status(api: string): Promise<NodeStatus> {
  return (await (await fetch(`${api}/status`)).json()) as NodeStatus
}

/** An origin and its seeding node, both on IPv6 loopback only, with one lesson. */
async function ip6Origin(
  bytes: Uint8Array,
): Promise<{ origin: Origin; seeder: Seeder; cid: string; url: string; stop(): Promise<void> }> {
  const origin = await createOrigin({
    dataDir: await h.tempDir(),
    token: 'test',
    host: '::1',
    port: 0,
    chunkSize: TEST_CHUNK_SIZE,
    hashWorkers: 1,
    minFreeDiskBytes: 0,
  })
  const seeder = await attachSeeder(origin, { dht: false, listen: ['/ip6/::1/tcp/0'] })
  let stopped = false
  const stop = async (): Promise<void> => {
    if (stopped) return
    stopped = true
    await seeder.stop()
    await origin.close()
  }
  stops.push(stop)
  const file = join(await h.tempDir(), 'lesson.mp4')
  await writeFile(file, bytes)
  const published = await origin.ingestFile(file, { name: 'lesson', type: 'video', mime: 'video/mp4' })
  const { port } = origin.app.server.address() as { port: number }
  return { origin, seeder, cid: published.manifestCid, url: `http://[::1]:${port}`, stop }
}

describe('node daemon addresses', () => {
  it('a campus node and a lamp work over IPv6 alone: the lamp reaches the campus node over WebRTC-Direct', async () => {
    const bytes = randomContent(3 * TEST_CHUNK_SIZE + 1000)
    const o = await ip6Origin(bytes)
    const key = peerIdFromPrivateKey(o.origin.privateKey).toString()
    const seederAddr = o.seeder.node.multiaddrs.map(String).find((a) => a.startsWith('/ip6/::1/'))!
    const campus = await daemon([
      ...['--listen', '/ip6/::1/tcp/0', '--listen', '/ip6/::1/udp/0/webrtc-direct', '--webrtc'],
      ...['--bootstrap', seederAddr, '--origin', o.url, '--trusted-origin', key],
      ...['--playback-host', '::1', '--campus', 'north'],
    ])
    expect(campus.ready.api).toMatch(/^http:\/\/\[::1\]:\d+$/)
    expect(campus.ready.multiaddrs.every((a) => a.startsWith('/ip6/::1/'))).toBe(true)
    const webrtcAddr = campus.ready.multiaddrs.find((a) => a.includes('/webrtc-direct/certhash/'))
    expect(webrtcAddr).toBeDefined()
    expect(campus.stderr).toEqual([])

    // placed on the campus node from the origin's seeding node, over IPv6
    const place = async (d: Daemon): Promise<void> =>
      await runFetchCommand([o.cid, '--node', d.ready.api, '--data', d.dataDir], {
        stdout: () => {},
        env: {},
      })
    await place(campus)
    expect((await status(campus.ready.api)).totals.bytesFromPeers).toBe(bytes.byteLength)

    // the origin goes away: the lamp, which knows only the campus node's WebRTC-Direct
    // address, gets everything from it
    await o.stop()
    const lamp = await daemon([
      ...['--role', 'device', '--webrtc', '--listen', '/ip6/::1/tcp/0', '--bootstrap', webrtcAddr!],
      ...['--origin', o.url, '--trusted-origin', key, '--playback-host', '::1'],
    ])
    await until(async () => (await status(lamp.ready.api)).connections > 0)
    await place(lamp)
    const got = await status(lamp.ready.api)
    expect(got.totals).toMatchObject({ bytesFromPeers: bytes.byteLength, bytesFromOrigin: 0 })
    expect(got.swarms[0].peers.map((p) => p.peer)).toEqual([campus.ready.peerId])
    const played = await fetch(`${lamp.ready.api}/content/${o.cid}`)
    expect(Buffer.from(await played.arrayBuffer()).equals(Buffer.from(bytes))).toBe(true)

    // `dandelion status` shows the operator the addresses to hand out
    const shown: string[] = []
    await runStatusCommand(['--node', campus.ready.api], { stdout: (l) => shown.push(l), env: {} })
    expect(shown).toContain(`  ${webrtcAddr}`)
  })

  it('listens on TCP 4001 over IPv4 and IPv6 by default, and a campus node with --webrtc on UDP 4001 too', () => {
    const base = { data: '/tmp/x', trustedOrigins: [TRUSTED_ORIGIN] }
    expect(resolveConfig(base).listen).toEqual(['/ip4/0.0.0.0/tcp/4001', '/ip6/::/tcp/4001'])
    expect(resolveConfig(base, { webrtc: true }).listen).toEqual([
      '/ip4/0.0.0.0/tcp/4001',
      '/ip6/::/tcp/4001',
      '/ip4/0.0.0.0/udp/4001/webrtc-direct',
      '/ip6/::/udp/4001/webrtc-direct',
    ])
    // a lamp only dials out over WebRTC-Direct
    expect(resolveConfig(base, { role: 'device', webrtc: true }).listen).toEqual([
      '/ip4/0.0.0.0/tcp/4001',
      '/ip6/::/tcp/4001',
    ])
    // addresses the operator names are kept as they are
    expect(resolveConfig(base, { listen: ['/ip4/10.0.0.5/tcp/4001'] }).listen).toEqual([
      '/ip4/10.0.0.5/tcp/4001',
    ])
  })

  it('refuses addresses whose transport is off, and WebRTC on a campus node with nowhere to accept it', () => {
    const base = { data: '/tmp/x', trustedOrigins: [TRUSTED_ORIGIN] }
    expect(() => resolveConfig(base, { listen: ['/ip4/0.0.0.0/udp/4001/webrtc-direct'] })).toThrow(
      /listen address \/ip4\/0\.0\.0\.0\/udp\/4001\/webrtc-direct is WebRTC-Direct, but WebRTC is off: add --webrtc/,
    )
    const lampBootstrap =
      '/ip4/192.0.2.7/udp/4001/webrtc-direct/certhash/uEiDDq4_xNyDorZBH3TlGazyJdOWSwvo4PUo5YHFMrvDE8g/p2p/12D3KooWHFrmLWTTDD4NodngtRMEVYgxrsDMp4F9J4xhN9p8cT3y'
    expect(() => resolveConfig(base, { role: 'device', bootstrap: [lampBootstrap] })).toThrow(
      /bootstrap address .* is WebRTC-Direct, but WebRTC is off, so it could never be dialed: add --webrtc/,
    )
    expect(() => resolveConfig(base, { webrtc: true, listen: ['/ip4/0.0.0.0/tcp/4001'] })).toThrow(
      /--webrtc is on, but no listen address is WebRTC-Direct, so no lamp could connect over it: add --listen \/ip4\/0\.0\.0\.0\/udp\/4001\/webrtc-direct/,
    )
    // with WebRTC on, the lamp dials that address
    expect(() =>
      resolveConfig(base, { role: 'device', webrtc: true, bootstrap: [lampBootstrap] }),
    ).not.toThrow()
  })

  it('starts when the IPv6 port is taken, listening on IPv4, and says on stderr what it does not listen on', async () => {
    // another program holds the port on IPv6 alone
    const squatter = createServer()
    squatter.listen({ host: '::1', port: 0, ipv6Only: true })
    await once(squatter, 'listening')
    stops.push(async () => {
      squatter.close()
      await once(squatter, 'close')
    })
    const { port } = squatter.address() as { port: number }
    const d = await daemon([
      ...['--listen', `/ip4/127.0.0.1/tcp/${port}`, '--listen', `/ip6/::1/tcp/${port}`],
      ...['--trusted-origin', TRUSTED_ORIGIN, '--playback-host', '::'],
    ])
    expect(d.ready.multiaddrs.map((a) => a.split('/p2p/')[0])).toEqual([`/ip4/127.0.0.1/tcp/${port}`])
    // the playback server on '::' (as the deployment example has it) answers players on both families
    const api = new URL(d.ready.api)
    for (const host of ['127.0.0.1', '[::1]'])
      expect((await fetch(`http://${host}:${api.port}/status`)).status).toBe(200)
    expect(d.stderr).toEqual([
      expect.stringMatching(
        new RegExp(
          `^WARNING: nothing listens on /ip6/::1/tcp/${port} \\(--listen, DANDELION_LISTEN, "listen"\\): this machine has no IPv6 address, or another program holds that port on it`,
        ),
      ),
    ])
  })

  it.skipIf(inNetns === undefined)(
    'binds its default addresses, TCP and UDP 4001 on both families, in a network namespace of its own',
    async () => {
      const child = spawn(
        'unshare',
        [
          ...(inNetns ?? []),
          process.execPath,
          CLI,
          'node',
          ...['--data', await h.tempDir(), '--trusted-origin', TRUSTED_ORIGIN, '--webrtc'],
          ...['--no-dht', '--playback-port', '0'],
        ],
        { detached: true, stdio: ['ignore', 'pipe', 'pipe'] },
      )
      stops.push(async () => killGroups([child]))
      let code: number | null | undefined
      let stderr = ''
      void exitAndStderr(child).then((r) => {
        code = r.code
        stderr = r.stderr
      })
      let stdout = ''
      child.stdout.on('data', (d: Buffer) => {
        stdout += d.toString()
      })
      const readyLine = (): string | undefined => stdout.split('\n').find((l) => l.includes('"ready"'))
      await until(() => readyLine() !== undefined || code !== undefined, 30_000)
      const ready = JSON.parse(readyLine() ?? 'null') as { multiaddrs: string[] } | null
      expect(ready, `exited ${code}: ${stderr}`).not.toBeNull()
      const bound = new Set(ready!.multiaddrs.map((a) => a.split('/certhash/')[0].split('/p2p/')[0]))
      expect(bound).toEqual(
        new Set([
          '/ip4/127.0.0.1/tcp/4001',
          '/ip6/::1/tcp/4001',
          '/ip4/127.0.0.1/udp/4001/webrtc-direct',
          '/ip6/::1/udp/4001/webrtc-direct',
        ]),
      )
    },
  )

  it('a release goes out over IPv6 alone: the origin registers with the tracker, the node enrolls and places it', async () => {
    const tracker = await createTracker({
      host: '::1',
      port: 0,
      adminToken: 'admin-token-6',
      enrollmentToken: 'enroll-token-6',
      dataDir: await h.tempDir(),
    })
    stops.push(async () => await tracker.close())
    // the URLs it prints are URLs: the IPv6 address in brackets
    expect(tracker.url).toMatch(/^http:\/\/\[::1\]:\d+$/)
    expect(tracker.channelUrl).toBe(`ws://[::1]:${new URL(tracker.url).port}/channel`)
    const api = async (method: string, path: string, body?: unknown): Promise<Record<string, unknown>> => {
      const res = await fetch(`${tracker.url}/api/v1${path}`, {
        method,
        headers: {
          authorization: 'Bearer admin-token-6',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      })
      const text = await res.text()
      expect(res.status, `${method} ${path}: ${text}`).toBeLessThan(300)
      return (text === '' ? {} : JSON.parse(text)) as Record<string, unknown>
    }
    await api('POST', '/cities', { id: 'bj', name: 'Beijing' })
    await api('POST', '/campuses', { id: 'bj-1', city: 'bj', name: 'BJ one' })

    const bytes = randomContent(2 * TEST_CHUNK_SIZE + 10)
    const o = await ip6Origin(bytes)
    const unregister = registerWithTracker(o.origin, { trackerUrl: tracker.url, token: 'admin-token-6' })
    stops.push(async () => unregister())
    await until(async () => {
      const res = await fetch(`${tracker.url}/api/v1/resources/lesson/versions`, {
        headers: { authorization: 'Bearer admin-token-6' },
      })
      return res.status === 200 && JSON.stringify(await res.json()).includes(o.cid)
    })
    await api('POST', '/resources/lesson/versions/1/approve')

    const seederAddr = o.seeder.node.multiaddrs.map(String).find((a) => a.startsWith('/ip6/::1/'))!
    const node = await daemon([
      ...['--listen', '/ip6/::1/tcp/0', '--bootstrap', seederAddr, '--origin', o.url],
      ...['--trusted-origin', peerIdFromPrivateKey(o.origin.privateKey).toString(), '--playback-host', '::1'],
      ...[
        '--tracker',
        tracker.channelUrl,
        '--tracker-id',
        tracker.trackerId,
        '--enroll-token',
        'enroll-token-6',
      ],
      ...['--campus', 'bj-1', '--city', 'bj', '--node-id', 'bj-1-a'],
    ])
    // the ready line comes before the enrollment: a release is made once the tracker knows the node
    await until(async () => {
      const res = await fetch(`${tracker.url}/api/v1/nodes/bj-1-a`, {
        headers: { authorization: 'Bearer admin-token-6' },
      })
      return res.status === 200
    })
    const release = await api('POST', '/releases', {
      resource: 'lesson',
      version: 1,
      targets: { campuses: ['bj-1'] },
    })
    await until(async () => {
      const got = (await api('GET', `/releases/${release.id}`)) as { release: { status: string } }
      return got.release.status === 'completed'
    }, 20_000)
    const played = await fetch(`${node.ready.api}/content/by-name/lesson`)
    expect(Buffer.from(await played.arrayBuffer()).equals(Buffer.from(bytes))).toBe(true)
    expect((await status(node.ready.api)).totals.bytesFromPeers).toBe(bytes.byteLength)
  })
})
