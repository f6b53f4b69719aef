import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { afterEach, describe, expect, it } from 'vitest'
import { Fixture, getJson, MiB } from './utils.ts'

const BIN = new URL('../../node/cli.ts', import.meta.url).pathname
const fx = new Fixture()
const children: ChildProcess[] = []
afterEach(async () => {
  for (const c of children.splice(0)) killJob(c, 'SIGKILL')
  await fx.cleanup()
})

/** Runs `dandelion …` as its own process group, as a shell job would be. */
function run(args: string[]): ChildProcess {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], detached: true })
  children.push(child)
  return child
}

/** Kills a job's whole process group (the command and the service process it runs). */
function killJob(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    process.kill(-child.pid!, signal)
  } catch {}
}

/** The origin's start-up banner, up to and with its upload command. */
async function banner(child: ChildProcess): Promise<string> {
  const lines: string[] = []
  let last = false
  for await (const line of createInterface({ input: child.stdout! })) {
    lines.push(line.replace(/\r$/, ''))
    if (last) break
    last = line.startsWith('Upload a lesson')
  }
  return lines.join('\n')
}

/** util-linux `script`, which runs a command on a pseudo-terminal, as an interactive shell would. */
const hasScript = spawnSync('script', ['--version']).status === 0

/** `dandelion origin` with a fresh data directory and a generated upload token. */
async function originArgs(): Promise<{ args: string[]; tokenFile: string }> {
  const data = await fx.dir()
  return {
    args: ['origin', '--port', '0', '--data', data, '--no-seed', '--min-free-disk-bytes', '0'],
    tokenFile: join(data, 'upload-token'),
  }
}

async function output(child: ChildProcess): Promise<{ code: number | null; stdout: string; stderr: string }> {
  let stdout = ''
  let stderr = ''
  child.stdout!.on('data', (d: Buffer) => {
    stdout += d.toString()
  })
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString()
  })
  const [code] = (await once(child, 'exit')) as [number | null]
  return { code, stdout, stderr }
}

describe('dandelion CLI: origin and upload', () => {
  it('prints help and refuses invalid configuration with a clear message', async () => {
    expect((await output(run(['origin', '--help']))).stdout).toContain('Usage: dandelion origin')
    expect((await output(run(['upload', '--help']))).stdout).toContain('Usage: dandelion upload')
    const bad = await output(run(['origin', '--port', 'seventy']))
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain('port must be integer')
    const missing = await output(run(['upload', 'x.mp4']))
    expect(missing.code).toBe(2)
    expect(missing.stderr).toContain('missing --origin')
  })

  it("does not print the generated upload token into a service's logs, only the path of its file", async () => {
    const { args, tokenFile } = await originArgs()
    // as a service: stdout is a pipe into systemd's or Docker's logs
    const service = run(args)
    const logged = await banner(service)
    const token = readFileSync(tokenFile, 'utf8').trim()
    expect(logged).not.toContain(token)
    expect(logged).toContain(`Authorization: Bearer <token in ${tokenFile}>`)
    expect(logged).toContain(`--token "$(cat '${tokenFile}')"`)
    killJob(service, 'SIGTERM')
    await once(service, 'exit')
  })

  it.skipIf(!hasScript)(
    'prints the generated upload token at a terminal (needs util-linux script)',
    async () => {
      const { args, tokenFile } = await originArgs()
      // the interactive first run of the README's quick start: the token is shown to the person
      // `exec`: the origin itself, not the shell `script` starts, is the terminal's foreground job,
      // whichever shell that is (dash, unlike bash, dies of the Ctrl-C itself)
      const command = `exec ${[process.execPath, BIN, ...args].map((a) => `'${a}'`).join(' ')}`
      const tty = spawn('script', ['-qfec', command, '/dev/null'], {
        stdio: ['pipe', 'pipe', 'pipe'],
        detached: true,
        env: { ...process.env, SHELL: '/bin/sh' },
      })
      children.push(tty)
      const shown = await banner(tty)
      const token = readFileSync(tokenFile, 'utf8').trim()
      expect(shown).toContain(`Authorization: Bearer ${token}`)
      expect(shown).toContain(`--token ${token} `)
      // Ctrl-C at the terminal stops it
      const exited = once(tty, 'exit')
      tty.stdin!.write('\x03')
      expect((await exited)[0]).toBe(0)
    },
  )

  it('uploads with a killed-and-rerun client that resumes, and prints the published version', async () => {
    const data = await fx.dir()
    const origin = run([
      'origin',
      ...['--port', '0', '--data', data, '--token', 'cli-test-token', '--min-free-disk-bytes', '0'],
      ...['--p2p-listen', '/ip4/127.0.0.1/tcp/0'],
    ])
    const banner: string[] = []
    for await (const line of createInterface({ input: origin.stdout! })) {
      banner.push(line)
      if (line.startsWith('Upload a lesson')) break
    }
    const url = /listening on (\S+)/.exec(banner[0])![1]
    // a configured token is not printed into a service's logs either
    expect(banner.join('\n')).not.toContain('cli-test-token')
    // the embedded seeding node announces its libp2p address under the origin's key
    expect(banner.join('\n')).toMatch(/seeding node\s+\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\//)
    const file = await fx.file(192 * MiB)
    const state = join(await fx.dir(), 'uploads.json')
    const args = [
      'upload',
      file.path,
      '--origin',
      url,
      '--token',
      'cli-test-token',
      '--name',
      'lesson',
      '--type',
      'video',
    ]
    const uploadArgs = [...args, '--state', state, '--quiet']

    // first run: killed once the origin holds part of the file
    const client = run(uploadArgs)
    // (read from the origin's upload state on disk: a HEAD during the PATCH would take the
    // upload's lock, which tus treats as the client having moved on)
    for (;;) {
      await new Promise((r) => setTimeout(r, 20))
      const saved = existsSync(state) ? readFileSync(state, 'utf8') : '{}'
      const uploadId = /"uploadUrl":"[^"]+\/([0-9a-f]{32})"/.exec(saved)?.[1]
      if (uploadId === undefined) continue
      const statePath = join(data, 'uploads', `${uploadId}.json`)
      // a missing state file would mean the upload was published before it could be interrupted
      expect(existsSync(statePath)).toBe(true)
      const stored = (JSON.parse(readFileSync(statePath, 'utf8')) as { chunks: string[] }).chunks.length
      if (stored > 0) break
    }
    const exited = once(client, 'exit')
    killJob(client, 'SIGKILL')
    await exited

    // second run: resumes and publishes
    const resumed = await output(run(uploadArgs))
    expect(resumed.code).toBe(0)
    expect(resumed.stdout).toMatch(/resumed and published lesson version 1/)
    const cid = /manifest (\S+)/.exec(resumed.stdout)![1]
    const versions = await getJson(`${url}/resources/lesson/versions`)
    expect(versions.versions.map((v: { manifestCid: string }) => v.manifestCid)).toEqual([cid])
    const content = Buffer.from(
      await (await fetch(`${url}/resources/lesson/versions/1/content`)).arrayBuffer(),
    )
    expect(content.equals(file.bytes)).toBe(true)

    origin.kill('SIGTERM')
    const [code] = (await once(origin, 'exit')) as [number]
    expect(code).toBe(0)
  })
})
