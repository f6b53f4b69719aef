/**
 * The node daemon and its commands as an operations team meets them: a setting that
 * cannot work is refused by name (exit 2), a daemon that cannot start leaves nothing
 * running, a second daemon on the same data directory is refused, and `fetch` / `limits`
 * say when the daemon cannot be reached.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { afterEach, describe, expect, it } from 'vitest'
import { runFetchCommand, runLimitsCommand } from '../../../node/daemon/api-commands.ts'
import { runNodeCommand } from '../../../node/daemon/cli.ts'
import { resolveConfig } from '../../../node/daemon/config.ts'
import { fromEnv, fromFile } from '../../../node/daemon/config-sources.ts'
import { CLI, closedPort, killGroups, LOCAL_FLAGS, TRUSTED_ORIGIN } from '../utils/cli.ts'

const PEER = '12D3KooWBJ74qtVnGTAqT3KkRR8LcdstYRnWXvfFapi9WwaS5guc'
/** Flags every daemon here runs with: loopback only, any free ports, no DHT. */
const LOCAL = [...LOCAL_FLAGS, '--trusted-origin', TRUSTED_ORIGIN]

const dirs: string[] = []
const children: ChildProcess[] = []
const servers: Server[] = []
const stops: AbortController[] = []
const daemons: Promise<unknown>[] = []

afterEach(async () => {
  for (const stop of stops.splice(0)) stop.abort()
  await Promise.allSettled(daemons.splice(0))
  killGroups(children)
  await Promise.allSettled(servers.splice(0).map((s) => new Promise((r) => s.close(r))))
  await Promise.allSettled(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })))
})

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'dandelion-ops-'))
  dirs.push(dir)
  return dir
}

/** A loopback port something else holds. */
async function takenPort(): Promise<number> {
  const server = createServer()
  servers.push(server)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return (server.address() as { port: number }).port
}

/** The error a promise rejects with. */
async function failure(p: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await p
  } catch (err) {
    return err as Error & { code?: string }
  }
  throw new Error('expected a failure')
}

/** `dandelion <args>` as its own process; `exited` resolves with its status and stderr. */
function cli(args: string[], env: NodeJS.ProcessEnv = {}) {
  // its own process group: teardown reaches the daemon it starts, even one that hangs
  const child = spawn(process.execPath, [CLI, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
    detached: true,
  })
  children.push(child)
  const lines: string[] = []
  let ready!: () => void
  const banner = new Promise<void>((resolve) => {
    ready = resolve
  })
  createInterface({ input: child.stdout! }).on('line', (l) => {
    lines.push(l)
    if (l.includes('"ready"')) ready()
  })
  let stderr = ''
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString()
  })
  // 'close': the daemon the command started shares its stdio, so this waits for it too
  const exited = new Promise<{ code: number | null; stderr: string }>((resolve) =>
    child.once('close', (code) => resolve({ code, stderr })),
  )
  return { child, lines, exited, ready: banner }
}

/** Runs a daemon in this process; resolves once it printed its banner. */
async function startDaemon(argv: string[]): Promise<{ api: string }> {
  const lines: string[] = []
  const stop = new AbortController()
  stops.push(stop)
  let ready!: (v: { api: string }) => void
  const banner = new Promise<{ api: string }>((resolve) => {
    ready = resolve
  })
  const daemon = runNodeCommand(argv, {
    env: {},
    stdout: (l) => {
      lines.push(l)
      if (l.includes('"ready"')) ready(JSON.parse(l) as { api: string })
    },
    signal: stop.signal,
  })
  daemons.push(daemon)
  return await Promise.race([banner, daemon.then(() => Promise.reject(new Error('daemon stopped')))])
}

describe('node daemon operations', () => {
  it('a playback port in use: the daemon says so, exits 2 and leaves no process behind', {
    timeout: 30_000,
  }, async () => {
    const port = await takenPort()
    const data = await tempDir()
    // until session 14 the daemon printed the error and then ran on (libp2p and the store
    // still started), deaf to SIGTERM
    const { exited } = cli(['node', '--data', data, ...LOCAL, '--playback-port', String(port)])
    const { code, stderr } = await exited
    expect(code).toBe(2)
    expect(stderr).toContain(`127.0.0.1:${port}`)
    expect(stderr).toContain('--playback-port')
    expect(stderr).toContain('EADDRINUSE')
  })

  it('a listen address in use or a bad one is refused by name, without a stack trace', async () => {
    const port = await takenPort()
    const err = await failure(
      runNodeCommand(['--data', await tempDir(), ...LOCAL, '--listen', `/ip4/127.0.0.1/tcp/${port}`], {
        env: {},
        stdout: () => {},
      }),
    )
    expect(err).toMatchObject({ name: 'ListenAddressError', code: 'ERR_INVALID_CONFIG' })
    expect(err.message).toContain(`/ip4/127.0.0.1/tcp/${port}`)
    expect(err.message).toContain('--listen')
    expect(err.message).not.toMatch(/^\s+at /m)
    expect(err.message).not.toContain('faultTolerance')
    // one that does not even parse is refused with the config, before anything starts
    const bad = await failure(
      runNodeCommand(['--data', await tempDir(), ...LOCAL, '--listen', '/foo/bar'], {
        env: {},
        stdout: () => {},
      }),
    )
    expect(bad).toMatchObject({ code: 'ERR_INVALID_CONFIG' })
    expect(bad.message).toContain('--listen')
  })

  it('a second daemon on the same data directory is refused clearly, and the first runs on', async () => {
    const data = await tempDir()
    const first = await startDaemon(['--data', data, ...LOCAL])
    const err = await failure(runNodeCommand(['--data', data, ...LOCAL], { env: {}, stdout: () => {} }))
    expect(err).toMatchObject({ name: 'DataDirInUseError', code: 'ERR_INVALID_CONFIG' })
    expect(err.message).toContain(data)
    expect(err.message).toContain('another node daemon')
    expect((await fetch(`${first.api}/status`)).status).toBe(200)
  })

  it('a data directory that is a file, or an identity key that is not one, is refused by name', async () => {
    const dir = await tempDir()
    const file = join(dir, 'a-file')
    await writeFile(file, 'x')
    const notDir = await failure(runNodeCommand(['--data', file, ...LOCAL], { env: {}, stdout: () => {} }))
    expect(notDir).toMatchObject({ name: 'DataDirError', code: 'ERR_INVALID_CONFIG' })
    expect(notDir.message).toContain('not a directory')
    expect(notDir.message).toContain('--data')

    const data = await tempDir()
    await writeFile(join(data, 'peer.key'), 'not a key')
    const badKey = await failure(runNodeCommand(['--data', data, ...LOCAL], { env: {}, stdout: () => {} }))
    expect(badKey).toMatchObject({ name: 'DataDirError' })
    expect(badKey.message).toContain('peer.key')
    // the node's identity is never replaced behind the operator's back
    expect(await readFile(join(data, 'peer.key'), 'utf8')).toBe('not a key')
  })

  it('settings that cannot work are refused by name: addresses, switches, numbers, the file', async () => {
    const base = { data: '/a', trustedOrigins: [TRUSTED_ORIGIN] }
    // a bootstrap peer id with a typo ran the node alone, its dial failures logged at debug level
    expect(() => resolveConfig(base, { bootstrap: ['/ip4/10.0.0.1/tcp/4001/p2p/12D3KooWtypo'] })).toThrow(
      /not a peer id.*--bootstrap/,
    )
    expect(resolveConfig(base, { bootstrap: [`/ip4/10.0.0.1/tcp/4001/p2p/${PEER}`] }).bootstrap).toHaveLength(
      1,
    )
    expect(() => resolveConfig(base, { listen: ['/foo/bar'] })).toThrow(/--listen/)
    // DANDELION_MDNS=TRUE meant false; a word that is no boolean is refused, naming the variable
    expect(resolveConfig(base, fromEnv({ DANDELION_MDNS: 'TRUE' })).mdns).toBe(true)
    expect(resolveConfig(base, fromEnv({ DANDELION_DHT: 'off' })).dht).toBe(false)
    expect(() => resolveConfig(base, fromEnv({ DANDELION_MDNS: 'maybe' }))).toThrow(/DANDELION_MDNS/)
    // a blank port meant port 0 (any)
    expect(() => resolveConfig(base, fromEnv({ DANDELION_PLAYBACK_PORT: ' ' }))).toThrow(
      /DANDELION_PLAYBACK_PORT/,
    )
    expect(() => resolveConfig(base, { playbackPort: Number('x') })).toThrow(/--playback-port/)
    // a file holding null was "Cannot convert undefined or null to object", exit 1
    const dir = await tempDir()
    for (const text of ['null', '[1]', '"data"']) {
      await writeFile(join(dir, 'node.json'), text)
      expect(await failure(fromFile(join(dir, 'node.json')))).toMatchObject({ code: 'ERR_INVALID_CONFIG' })
    }
  })

  it('a campus or city the peers or the tracker would refuse is refused at start', () => {
    const base = { data: '/a', trustedOrigins: [TRUSTED_ORIGIN] }
    // 150 code points, 300 UTF-16 units: every peer refused the node's swarm hello (over
    // 200), so it fetched from nobody; and the tracker dropped its enrollment (over 128)
    expect(() => resolveConfig(base, { campus: '🌼'.repeat(150) })).toThrow(/--campus/)
    expect(() => resolveConfig(base, { campus: 'c'.repeat(129) })).toThrow(/--campus/)
    expect(() => resolveConfig(base, { campus: '' })).toThrow(/--campus/)
    expect(() => resolveConfig(base, { city: '🌼'.repeat(101) })).toThrow(/--city/)
    expect(() => resolveConfig(base, { enrollToken: 't'.repeat(513) })).toThrow(/--enroll-token/)
    expect(resolveConfig(base, { campus: '🌼'.repeat(64), city: 'é'.repeat(200) })).toMatchObject({
      campus: '🌼'.repeat(64),
    })
  })

  it('`fetch` and `limits` say when the daemon cannot be reached, and bad arguments exit 2', {
    timeout: 30_000,
  }, async () => {
    const port = await closedPort()
    // nothing listens there now: fetch's bare "fetch failed" told the operator nothing
    const down = `http://127.0.0.1:${port}`
    for (const run of [
      runFetchCommand([PEER, '--node', down, '--token', 'secret-token'], { stdout: () => {}, env: {} }),
      runLimitsCommand(['--node', down], { stdout: () => {}, env: {} }),
    ]) {
      const err = await failure(run)
      expect(err).toMatchObject({ name: 'NodeUnreachableError' })
      expect(err.message).toContain(down)
      expect(err.message).toContain('ECONNREFUSED')
    }
    const badRate = cli(['limits', '--upload', 'fast', '--node', down])
    expect((await badRate.exited).code).toBe(2)
    const noCid = cli(['fetch', '--node', down])
    expect((await noCid.exited).code).toBe(2)
  })

  it('a SIGINT sent to the `dandelion node` process alone stops the daemon gracefully', {
    timeout: 30_000,
  }, async () => {
    const data = await tempDir()
    const { child, lines, ready, exited } = cli(['node', '--data', data, ...LOCAL])
    await ready
    // (as `kill -INT <pid>` or `docker stop` with STOPSIGNAL SIGINT send it; Ctrl-C reaches
    // the whole process group): until session 14 nothing reached the daemon, which ran on
    child.kill('SIGINT')
    expect((await exited).code).toBe(0)
    expect(lines.at(-1)).toContain('"stopped"')
  })

  it('a SIGTERM to the whole process group, as a service manager stops a unit, stops the daemon gracefully', {
    timeout: 30_000,
  }, async () => {
    const data = await tempDir()
    const { child, lines, ready, exited } = cli(['node', '--data', data, ...LOCAL])
    await ready
    // once it has settled: a daemon still busy starting took the two signals as one
    const { api } = JSON.parse(lines.find((l) => l.includes('"ready"'))!) as { api: string }
    expect((await fetch(`${api}/status`)).status).toBe(200)
    // systemd (KillMode=control-group) signals every process of the unit: the daemon got
    // SIGTERM from it and again from the command passing its own on, and the second one
    // killed it midway (exit 143, which marks the unit failed, and no "stopped")
    process.kill(-child.pid!, 'SIGTERM')
    expect((await exited).code).toBe(0)
    expect(lines.at(-1)).toContain('"stopped"')
  })
})
