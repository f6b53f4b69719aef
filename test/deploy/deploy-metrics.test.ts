import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, describe, expect, it, vi } from 'vitest'
import { parse as parseYaml } from 'yaml'
import { runNodeCommand } from '../../node/daemon/cli.ts'
import { runOriginCommand } from '../../origin/cli.ts'
import { runRtcCommand } from '../../rtc/cli.ts'
import { runTrackerCommand } from '../../tracker/cli.ts'
import {
  file,
  filledEnv,
  loadDeploys,
  localArgs,
  SERVICES,
  type Service,
  scratch,
  TOKENS,
} from './deploy-fixture.ts'
import { exportedFamilies, isExported, metricNames } from './unit-file.ts'

loadDeploys()

describe('a fleet deployed from these files, on loopback', () => {
  const stops: Array<() => Promise<unknown>> = []
  afterAll(async () => {
    vi.unstubAllEnvs()
    vi.restoreAllMocks()
    for (const stop of stops.reverse()) await stop().catch(() => {})
  })

  it('exports every metric its alert rules read', { timeout: 45_000 }, async () => {
    // the origin, tracker and rtc commands print their banners on stdout
    let printed = ''
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      printed += String(chunk)
      return true
    })
    const started = (cmd: Promise<unknown>, stop: AbortController): void => {
      const done = cmd.catch((err: Error) => {
        printed += `\nFAILED: ${err.message}\n`
      })
      stops.push(async () => {
        stop.abort()
        await done
      })
    }
    // each daemon reads its environment as it starts (unstubbed once it is up): on their
    // machines they would share none of it
    const withEnv = (env: Record<string, string>, start: () => void): void => {
      for (const [k, v] of Object.entries(env)) vi.stubEnv(k, v)
      start()
    }
    const awaitLine = async (what: string, re: RegExp): Promise<RegExpExecArray> => {
      await until(what, () => re.test(printed) || printed.includes('FAILED:'))
      const m = re.exec(printed)
      if (m === null) throw new Error(`${what}: ${printed}`)
      return m
    }

    // the tracker: the unit's flags, its data directory and address made local
    const trackerStop = new AbortController()
    withEnv(filledEnv('tracker'), () =>
      started(
        runTrackerCommand(
          localArgs('tracker', {
            '--data-dir': join(scratch(), 'tracker'),
            '--host': '127.0.0.1',
            '--port': '0',
          }),
          { signal: trackerStop.signal },
        ),
        trackerStop,
      ),
    )
    const tracker = JSON.parse((await awaitLine('the tracker', /^\{"url".*\}$/m))[0]) as {
      url: string
      channelUrl: string
      trackerId: string
    }
    vi.unstubAllEnvs()

    // the origin: origin.example.json with its addresses made local, registering with that tracker
    const originConfig = JSON.parse(await readFile(file('origin', 'origin.example.json'), 'utf8'))
    const originJson = join(scratch(), 'origin.json')
    await writeFile(
      originJson,
      JSON.stringify({
        ...originConfig,
        host: '127.0.0.1',
        port: 0,
        p2pListen: ['/ip4/127.0.0.1/tcp/0'],
        trackerUrl: tracker.url,
      }),
    )
    const originStop = new AbortController()
    withEnv(filledEnv('origin'), () =>
      started(
        runOriginCommand(
          localArgs('origin', { '--config': originJson, '--data': join(scratch(), 'origin') }),
          {
            signal: originStop.signal,
          },
        ),
        originStop,
      ),
    )
    const originUrl = (await awaitLine('the origin', /^Dandelion origin listening on (\S+)$/m))[1]
    vi.unstubAllEnvs()
    const originKey = (await awaitLine('its key', /^ {2}origin key +(\S+)/m))[1]
    const seeder = (await awaitLine('its seeding node', /^ {2}seeding node +(\/\S+)/m))[1]
    // DANDELION_ORIGIN_TRACKER_TOKEN carried the tracker's DANDELION_ADMIN_TOKEN
    expect((await awaitLine('its tracker line', /^ {2}tracker +.*$/m))[0]).not.toMatch(/WARNING/)

    // the node: node.example.json pointed at these, in the campus its example names
    const nodeConfig = JSON.parse(await readFile(file('node', 'node.example.json'), 'utf8'))
    const admin = { authorization: `Bearer ${TOKENS.admin}`, 'content-type': 'application/json' }
    for (const [path, body] of [
      ['cities', { id: nodeConfig.city, name: 'City' }],
      ['campuses', { id: nodeConfig.campus, city: nodeConfig.city, name: 'Campus' }],
    ] as const) {
      const res = await fetch(`${tracker.url}/api/v1/${path}`, {
        method: 'POST',
        headers: admin,
        body: JSON.stringify(body),
      })
      expect(res.status, path).toBe(201)
    }
    const nodeJson = join(scratch(), 'node.json')
    await writeFile(
      nodeJson,
      JSON.stringify({
        ...nodeConfig,
        origin: originUrl,
        trustedOrigins: [originKey],
        bootstrap: [seeder],
        trackers: [tracker.channelUrl],
        trackerIds: [tracker.trackerId],
        // the example's defaults (TCP, and WebRTC-Direct for lamps) made local
        listen: ['/ip4/127.0.0.1/tcp/0', '/ip4/127.0.0.1/udp/0/webrtc-direct'],
        playbackHost: '127.0.0.1',
        playbackPort: 0,
      }),
    )
    const nodeLines: string[] = []
    const nodeStop = new AbortController()
    started(
      runNodeCommand(localArgs('node', { '--config': nodeJson, '--data': join(scratch(), 'node') }), {
        env: filledEnv('node'),
        stdout: (l) => nodeLines.push(l),
        stderr: () => {},
        signal: nodeStop.signal,
        trackerWaitWarnMs: 60_000,
      }),
      nodeStop,
    )
    await until('the node', () => nodeLines.some((l) => l.includes('"ready"')) || printed.includes('FAILED:'))
    const ready = JSON.parse(nodeLines.find((l) => l.includes('"ready"')) ?? '{}') as { api?: string }
    expect(ready.api, printed).toBeDefined()

    // rtc: the unit's flags, its address and grant key made local
    const rtcStop = new AbortController()
    withEnv(filledEnv('rtc'), () =>
      started(
        runRtcCommand(
          localArgs('rtc', {
            '--host': '127.0.0.1',
            '--port': '0',
            '--origin': originUrl,
            '--grant-key-file': join(scratch(), 'rtc', 'photo-grant.key'),
          }),
          { signal: rtcStop.signal },
        ),
        rtcStop,
      ),
    )
    const rtcUrl = (await awaitLine('rtc', /^rtc listening on (\S+)/m))[1]
    vi.unstubAllEnvs()

    const scrape = async (url: string): Promise<string> => {
      const res = await fetch(`${url}/metrics`)
      expect(res.status, url).toBe(200)
      return await res.text()
    }
    // the node enrolled with the env file's token, over the example's channel and key
    await until('the node enrolled', async () =>
      /^dandelion_tracker_nodes_connected 1$/m.test(await scrape(tracker.url)),
    )

    const metricsUrl: Record<Service, string> = {
      node: ready.api!,
      origin: originUrl,
      tracker: tracker.url,
      rtc: rtcUrl,
    }
    const names = new Set<string>()
    for (const s of SERVICES) {
      const families = exportedFamilies(await scrape(metricsUrl[s]))
      const alerts = await alertsOf(s)
      expect(alerts.length, s).toBeGreaterThan(0)
      for (const a of alerts) {
        expect(names.has(a.alert), `${a.alert} twice`).toBe(false)
        names.add(a.alert)
        expect(a.alert).toMatch(/^Dandelion[A-Z]\w+$/)
        expect(['critical', 'warning', 'info'], a.alert).toContain(a.labels?.severity)
        expect(a.for, a.alert).toMatch(/^\d+[smh]$/)
        expect(a.annotations?.summary, a.alert).toBeTruthy()
        // tells the operator what to do, and where to read more
        expect(a.annotations?.description, a.alert).toMatch(/README\.md/)
        const read = metricNames(a.expr)
        expect(read.length, a.alert).toBeGreaterThan(0)
        for (const name of read) {
          // `up` is the one series Prometheus makes itself, for each scrape of the job
          if (name === 'up') {
            expect(a.expr, a.alert).toMatch(new RegExp(`\\bup\\{job="dandelion-${s}"\\}`))
            continue
          }
          expect(isExported(name, families), `${a.alert} reads ${name}, which ${s} does not export`).toBe(
            true,
          )
        }
      }
    }
  })
})

/** Polls `cond` every 50 ms until it holds, failing after `ms`. */
async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 15_000): Promise<void> {
  const end = Date.now() + ms
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

/** The alerts of `<service>/deploy/alerts.yml`. */
interface Alert {
  alert: string
  expr: string
  for: string
  labels: { severity: string }
  annotations: { summary: string; description: string }
}
async function alertsOf(s: Service): Promise<Alert[]> {
  const doc = parseYaml(await readFile(file(s, 'alerts.yml'), 'utf8')) as {
    groups: Array<{ rules: Alert[] }>
  }
  return doc.groups.flatMap((g) => g.rules)
}
