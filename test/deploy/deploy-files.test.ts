/**
 * The deployment files (`<service>/deploy/`: systemd units, example settings, alert rules)
 * against the code they deploy, so that they cannot rot: each unit's command line is the one
 * its daemon accepts, its data directory the one systemd gives it, its secrets in variables
 * the daemon reads; the example settings pass the daemons' own validation; and every metric
 * an alert reads is one a daemon, started from these very files on loopback, exports.
 */
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { access, readFile, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { parseArgs, promisify } from 'node:util'
import { describe, expect, it, vi } from 'vitest'
import { STOP_DEADLINE_MS } from '../../node/agent/constants.ts'
import { checkAgentSettings, parseOriginKey, resolveConfig } from '../../node/daemon/config.ts'
import {
  fromEnv,
  fromFile,
  fromFlags,
  NODE_ENV_NAMES,
  nodeFlagOptions,
} from '../../node/daemon/config-sources.ts'
import { loadOriginConfig, ORIGIN_ENV_NAMES } from '../../origin/config.ts'
import { runRtcCommand } from '../../rtc/cli.ts'
import { RTC_ENV_NAMES } from '../../rtc/env.ts'
import { TRACKER_ENV_NAMES } from '../../tracker/cli-env.ts'
import { trackerInitFromArgs } from '../../tracker/cli-tracker-args.ts'
import { createTracker } from '../../tracker/index.ts'
import {
  DATA_FLAG,
  deploy,
  file,
  filledEnv,
  loadDeploys,
  localArgs,
  ROOT,
  SECRET_FLAGS,
  SERVICES,
  scratch,
  WITH_CONFIG,
} from './deploy-fixture.ts'
import { flagValue, unitValue } from './unit-file.ts'

loadDeploys()

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
      ['--data-dir', join(scratch(), 'bad'), '--host', '127.0.0.1', '--port', '0'],
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
        const path = join(scratch(), `dandelion-${s}.service`)
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
      fromFlags({ ...values, data: join(scratch(), 'node-data') }),
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
      { data: join(scratch(), 'origin-data') },
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
          env: { ...process.env, NODE_COMPILE_CACHE: join(scratch(), 'compile-cache') },
        })
        expect(stdout, s).toMatch(/usage/i)
      }),
    )
  })
})
