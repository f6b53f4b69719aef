/**
 * The deployment files (`<service>/deploy/`: systemd units, example settings, alert rules)
 * against the code they deploy, so that they cannot rot: each unit's command line is the one
 * its daemon accepts, its data directory the one systemd gives it, its secrets in variables
 * the daemon reads; the example settings pass the daemons' own validation; and every metric
 * an alert reads is one a daemon, started from these very files on loopback, exports.
 */
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { access, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs, promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { parse as parseYaml } from 'yaml'
import { STOP_DEADLINE_MS } from '../../node/agent/constants.ts'
import { runNodeCommand } from '../../node/daemon/cli.ts'
import { checkAgentSettings, parseOriginKey, resolveConfig } from '../../node/daemon/config.ts'
import {
  fromEnv,
  fromFile,
  fromFlags,
  NODE_ENV_NAMES,
  nodeFlagOptions,
} from '../../node/daemon/config-sources.ts'
import { runOriginCommand } from '../../origin/cli.ts'
import { loadOriginConfig, ORIGIN_ENV_NAMES } from '../../origin/config.ts'
import { runRtcCommand } from '../../rtc/cli.ts'
import { RTC_ENV_NAMES } from '../../rtc/env.ts'
import { runTrackerCommand } from '../../tracker/cli.ts'
import { TRACKER_ENV_NAMES } from '../../tracker/cli-env.ts'
import { trackerInitFromArgs } from '../../tracker/cli-tracker-args.ts'
import { createTracker } from '../../tracker/index.ts'
import {
  commandWords,
  type EnvEntry,
  exportedFamilies,
  flagValue,
  isExported,
  metricNames,
  parseEnvFile,
  parseUnit,
  type UnitFile,
  unitValue,
} from './unit-file.ts'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const SERVICES = ['node', 'origin', 'tracker', 'rtc'] as const
type Service = (typeof SERVICES)[number]

/** The flag whose value is the service's data directory (rtc's is the grant key file in it). */
const DATA_FLAG: Record<Service, string> = {
  node: '--data',
  origin: '--data',
  tracker: '--data-dir',
  rtc: '--grant-key-file',
}
/** Flags that carry a secret: never in a unit, where `ps` and `systemctl show` print them. */
const SECRET_FLAGS: Record<Service, string[]> = {
  node: ['--api-token', '--enroll-token'],
  origin: ['--token', '--tracker-token'],
  tracker: ['--admin-token', '--enrollment-token', '--viewer-token'],
  rtc: ['--secret', '--previous-secret', '--turn-secret', '--ops-token', '--ice-server'],
}
/** Services whose daemon takes a `--config` JSON file. */
const WITH_CONFIG: ReadonlySet<Service> = new Set(['node', 'origin'])

const secret = (): string => randomBytes(24).toString('hex')
/**
 * What the blank secrets of the example environment files are filled with, one fleet's worth:
 * the origin presents the tracker's admin token, a node the tracker's enrollment token.
 */
const TOKENS = { admin: secret(), enroll: secret() }
const FILL: Record<Service, Record<string, string>> = {
  node: { DANDELION_ENROLLMENT_TOKEN: TOKENS.enroll, DANDELION_API_TOKEN: secret() },
  origin: { DANDELION_ORIGIN_TRACKER_TOKEN: TOKENS.admin },
  tracker: {
    DANDELION_ADMIN_TOKEN: TOKENS.admin,
    DANDELION_ENROLLMENT_TOKEN: TOKENS.enroll,
    DANDELION_VIEWER_TOKEN: secret(),
  },
  rtc: {
    DANDELION_RTC_SECRET: secret(),
    DANDELION_RTC_PREVIOUS_SECRETS: secret(),
    DANDELION_RTC_OPS_TOKEN: secret(),
  },
}

interface Deploy {
  unit: UnitFile
  /** ExecStart's words. */
  words: string[]
  /** The env file's variables. */
  env: EnvEntry[]
}
const deploys = new Map<Service, Deploy>()
const deploy = (s: Service): Deploy => deploys.get(s)!
const file = (s: Service, name: string): string => join(ROOT, s, 'deploy', name)

/** The example env file's set variables, blanks filled from {@link FILL}. */
function filledEnv(s: Service): Record<string, string> {
  const env: Record<string, string> = {}
  for (const e of deploy(s).env.filter((v) => !v.optional)) {
    const value = e.value === '' ? FILL[s][e.name] : e.value
    if (value === undefined) throw new Error(`${s}.env.example: no test value for the blank ${e.name}`)
    env[e.name] = value
  }
  return env
}

/** The unit's arguments after the command, with `flag`'s value replaced as `values` say. */
function localArgs(s: Service, values: Record<string, string>): string[] {
  const args = deploy(s).words.slice(3)
  for (const [flag, value] of Object.entries(values)) {
    const i = args.indexOf(flag)
    expect(i, `${s} unit: ExecStart has no ${flag}`).toBeGreaterThan(-1)
    args[i + 1] = value
  }
  return args
}

let dir = ''
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dandelion-deploy-'))
  for (const s of SERVICES) {
    const unit = parseUnit(await readFile(file(s, `dandelion-${s}.service`), 'utf8'))
    const words = commandWords(unitValue(unit, 'Service', 'ExecStart') ?? '')
    const env = parseEnvFile(await readFile(file(s, `${s}.env.example`), 'utf8'))
    deploys.set(s, { unit, words, env })
  }
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe.each(SERVICES)('dandelion-%s.service', (s) => {
  const service = (key: string): string | undefined => unitValue(deploy(s).unit, 'Service', key)

  it("runs the command with the project's own Node, from the checkout, as the dandelion user", async () => {
    const { words } = deploy(s)
    const workDir = service('WorkingDirectory')
    expect(workDir).toBe('/opt/dandelion')
    expect(words[0]).toBe(`${workDir}/node_modules/.bin/node`)
    // `npm run` hands SIGTERM to a shell that dies without passing it on
    expect(words).not.toContain('npm')
    await access(join(ROOT, 'node_modules/.bin/node'))
    // `dandelion <service>`: the command runs <service>/main.ts, which exists
    expect(words[1]).toBe('node/cli.ts')
    await access(join(ROOT, words[1]))
    expect(words[2]).toBe(s)
    await access(join(ROOT, s, 'main.ts'))
    expect(service('User')).toBe('dandelion')
    expect(service('Group')).toBe('dandelion')
    expect(service('DynamicUser')).toBeUndefined()
  })

  it('keeps its data in the state directory systemd makes writable, its secrets off the command line', async () => {
    const { words } = deploy(s)
    const state = service('StateDirectory')
    expect(state).toBe(`dandelion-${s}`)
    const data = flagValue(words, DATA_FLAG[s])
    expect(data, DATA_FLAG[s]).toBeDefined()
    const dataDir = s === 'rtc' ? dirname(data!) : data
    expect(dataDir).toBe(`/var/lib/${state}`)
    expect(service('ReadWritePaths')?.split(/\s+/)).toContain(dataDir)
    // the compile cache (cli-main.ts) would otherwise go under the read-only checkout
    expect(deploy(s).unit.get('Service')?.get('Environment')).toContain(
      `NODE_COMPILE_CACHE=/var/cache/${service('CacheDirectory')}`,
    )
    for (const flag of SECRET_FLAGS[s]) expect(words, flag).not.toContain(flag)
    expect(service('EnvironmentFile')).toBe(`/etc/dandelion/${s}.env`)
    if (WITH_CONFIG.has(s)) {
      expect(flagValue(words, '--config')).toBe(`/etc/dandelion/${s}.json`)
      await access(file(s, `${s}.example.json`))
    } else expect(words).not.toContain('--config')
  })

  it('restarts on failure, waits out a graceful stop, is hardened', () => {
    expect(service('Restart')).toBe('on-failure')
    // systemd signals `dandelion <service>` and the daemon alike: both hold their stop signals
    expect(service('KillMode')).toBe('control-group')
    const stopSeconds = Number(/^(\d+)s$/.exec(service('TimeoutStopSec') ?? '')?.[1])
    // the node's agent alone waits up to STOP_DEADLINE_MS for a command that ignores its abort
    expect(stopSeconds).toBeGreaterThanOrEqual(s === 'node' ? STOP_DEADLINE_MS / 1000 + 20 : 30)
    expect(Number(service('LimitNOFILE'))).toBeGreaterThanOrEqual(65536)
    expect(service('NoNewPrivileges')).toBe('yes')
    expect(service('ProtectSystem')).toBe('strict')
    expect(service('ProtectHome')).toBe('yes')
    expect(service('PrivateTmp')).toBe('yes')
    // V8's JIT writes code pages: this would kill the daemon at start
    expect(service('MemoryDenyWriteExecute')).toBeUndefined()
  })

  it('names in its env file only variables the daemon reads', async () => {
    const names = deploy(s).env.map((e) => e.name)
    expect(names.length).toBeGreaterThan(0)
    expect(new Set(names).size).toBe(names.length)
    const own = {
      node: NODE_ENV_NAMES,
      origin: ORIGIN_ENV_NAMES,
      tracker: TRACKER_ENV_NAMES,
      rtc: RTC_ENV_NAMES,
    }
    for (const n of names) expect(own[s], n).toContain(n)
    // and the tracker and rtc read each in their command: set to a value too short to be a
    // secret, it must make the daemon refuse to start, naming that variable
    if (s === 'tracker' || s === 'rtc')
      for (const n of names) await expect(startWithBadValue(s, n), n).rejects.toThrow(n)
  })
})

/** Starts the tracker or rtc from the unit's example env with `name` set to a bad value. */
async function startWithBadValue(s: 'tracker' | 'rtc', name: string): Promise<void> {
  const env = { ...filledEnv(s), [name]: 'x' }
  if (s === 'tracker') {
    const init = trackerInitFromArgs(
      ['--data-dir', join(dir, 'bad'), '--host', '127.0.0.1', '--port', '0'],
      env,
    )
    const tracker = await createTracker(init)
    await tracker.close()
    return
  }
  for (const [k, v] of Object.entries(env)) vi.stubEnv(k, v)
  try {
    // a server the bad value failed to stop is stopped at once (and the test fails)
    await runRtcCommand(['--host', '127.0.0.1', '--port', '0'], { signal: AbortSignal.abort() })
  } finally {
    vi.unstubAllEnvs()
  }
}

describe('the example settings', () => {
  // systemd's own reading of the units, where the machine has it: an unknown or misspelt key
  // is only a warning to systemd, which then runs the unit without it
  const analyze = '/usr/bin/systemd-analyze'
  it.skipIf(!existsSync(analyze))('are units systemd reads without a warning', async () => {
    const units = await Promise.all(
      SERVICES.map(async (s) => {
        const path = join(dir, `dandelion-${s}.service`)
        const text = await readFile(file(s, `dandelion-${s}.service`), 'utf8')
        // the checkout stands in for /opt/dandelion, whose programs systemd looks for
        await writeFile(path, text.replaceAll('/opt/dandelion', ROOT.replace(/\/$/, '')))
        return path
      }),
    )
    const { stdout, stderr } = await promisify(execFile)(analyze, ['verify', '--man=no', ...units], {
      timeout: 20_000,
    })
    expect(stdout + stderr).toBe('')
  })

  it("pass the node daemon's validation with the unit's flags", async () => {
    const { values } = parseArgs({ args: localArgs('node', {}), options: nodeFlagOptions(), strict: true })
    expect(values.config).toBe('/etc/dandelion/node.json')
    const config = resolveConfig(
      await fromFile(file('node', 'node.example.json')),
      fromEnv(filledEnv('node')),
      fromFlags({ ...values, data: join(dir, 'node-data') }),
    )
    checkAgentSettings(config)
    for (const key of config.trustedOrigins) parseOriginKey(key)
    // a campus node that classroom players on the LAN reach (IPv4 and IPv6), obeying one tracker key
    expect(config.playbackHost).toBe('::')
    expect(config.trackerIds.length).toBeGreaterThan(0)
    expect(config.trustAnyOrigin).toBe(false)
  })

  it("pass the origin's validation with the unit's flags", async () => {
    // the unit gives only these two; every flag the origin takes is checked by --help below
    const options = { config: { type: 'string' }, data: { type: 'string' } } as const
    const { values } = parseArgs({ args: localArgs('origin', {}), options, strict: true })
    expect(values.config).toBe('/etc/dandelion/origin.json')
    const config = await loadOriginConfig(
      { data: join(dir, 'origin-data') },
      filledEnv('origin'),
      file('origin', 'origin.example.json'),
    )
    expect(config.trackerUrl).toBeDefined()
    expect(config.p2pListen.some((a) => a.startsWith('/ip4/0.0.0.0/'))).toBe(true)
  })

  it('start each daemon from its unit command line, as `dandelion` does (--help: nothing starts)', async () => {
    const run = promisify(execFile)
    await Promise.all(
      SERVICES.map(async (s) => {
        const [, ...args] = deploy(s).words
        // the checkout stands in for /opt/dandelion; --help is read after every flag is checked
        const { stdout } = await run(join(ROOT, 'node_modules/.bin/node'), [...args, '--help'], {
          cwd: ROOT,
          timeout: 20_000,
          env: { ...process.env, NODE_COMPILE_CACHE: join(dir, 'compile-cache') },
        })
        expect(stdout, s).toMatch(/usage/i)
      }),
    )
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
          localArgs('tracker', { '--data-dir': join(dir, 'tracker'), '--host': '127.0.0.1', '--port': '0' }),
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
    const originJson = join(dir, 'origin.json')
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
        runOriginCommand(localArgs('origin', { '--config': originJson, '--data': join(dir, 'origin') }), {
          signal: originStop.signal,
        }),
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
    const nodeJson = join(dir, 'node.json')
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
      runNodeCommand(localArgs('node', { '--config': nodeJson, '--data': join(dir, 'node') }), {
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
            '--grant-key-file': join(dir, 'rtc', 'photo-grant.key'),
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
