/**
 * `dandelion node` runs the daemon as its own process, with the daemon's Node flags and
 * environment, and that process never outlives the command.
 */
import { execFile, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { generateKeyPair, publicKeyToProtobuf } from '@libp2p/crypto/keys'
import { afterEach, describe, expect, it } from 'vitest'
import { SERVICE_ENV, SERVICE_NODE_FLAGS } from '../../../node/cli-main.ts'

const CLI = fileURLToPath(new URL('../../../node/cli.ts', import.meta.url))
const DAEMON_MAIN = fileURLToPath(new URL('../../../node/main.ts', import.meta.url))
const run = promisify(execFile)
const ORIGIN_KEY = Buffer.from(publicKeyToProtobuf((await generateKeyPair('Ed25519')).publicKey)).toString(
  'base64',
)
const dirs: string[] = []

afterEach(async () => {
  await Promise.allSettled(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })))
})

function start(data: string) {
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
      // a daemon starts only with an origin to trust; this one never fetches
      '--trusted-origin',
      ORIGIN_KEY,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, DANDELION_DATA: data } },
  )
  const lines: string[] = []
  const out = createInterface({ input: proc.stdout! })
  const ready = new Promise<{ pid: number }>((resolve) =>
    out.on('line', (l) => {
      lines.push(l)
      if (l.includes('"ready"')) resolve(JSON.parse(l) as { pid: number })
    }),
  )
  // the daemon shares the command's stdout: the pipe ends only when both are gone
  const outClosed = new Promise<void>((resolve) => out.once('close', () => resolve()))
  return { proc, lines, ready, outClosed }
}

describe.skipIf(!existsSync('/proc/self/cmdline'))('node daemon process', () => {
  it('runs with the daemon flags and environment, and stops when the command is killed', async () => {
    const data = await mkdtemp(join(tmpdir(), 'dandelion-daemon-proc-'))
    dirs.push(data)
    const { proc, lines, ready, outClosed } = start(data)
    const { pid } = await ready
    expect(pid).not.toBe(proc.pid)
    const argv = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0')
    for (const flag of SERVICE_NODE_FLAGS.node) expect(argv).toContain(flag)
    const env = (await readFile(`/proc/${pid}/environ`, 'utf8')).split('\0')
    for (const [k, v] of Object.entries(SERVICE_ENV.node)) expect(env).toContain(`${k}=${v}`)

    // SIGKILL cannot be passed on: the daemon notices its parent is gone and stops gracefully
    proc.kill('SIGKILL')
    await outClosed
    expect(lines.at(-1)).toContain('"stopped"')
  })

  it('passes SIGTERM on and exits with the daemon', async () => {
    const data = await mkdtemp(join(tmpdir(), 'dandelion-daemon-proc-'))
    dirs.push(data)
    const { proc, lines, ready } = start(data)
    await ready
    const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)))
    proc.kill('SIGTERM')
    expect(await exited).toBe(0)
    expect(lines.at(-1)).toContain('"stopped"')
  })

  it('a second daemon start reuses the compile cache and never loads the type stripper', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dandelion-compile-cache-'))
    dirs.push(dir)
    // reports, as the process exits, whether Node loaded its TypeScript stripper (amaro)
    const hook = join(dir, 'report.mjs')
    await writeFile(
      hook,
      "process.on('exit', () => process.stderr.write('stripper=' + process.moduleLoadList.some((m) => m.includes('amaro')) + '\\n'))\n",
    )
    const cache = join(dir, 'cache')
    const startOnce = async (): Promise<string> => {
      const { stderr } = await run(process.execPath, [DAEMON_MAIN, 'node', '--help'], {
        env: {
          ...process.env,
          ...SERVICE_ENV.node,
          NODE_COMPILE_CACHE: cache,
          NODE_OPTIONS: `--import ${hook}`,
        },
        timeout: 30_000,
      })
      return stderr
    }
    expect(await startOnce()).toContain('stripper=true')
    expect(await startOnce()).toContain('stripper=false')
  }, 60_000)
})
