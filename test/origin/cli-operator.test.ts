/**
 * `dandelion origin` and `dandelion upload` as an operator following the README meets
 * them: what the banner tells campus nodes to use, a tracker that refuses the origin's
 * token, and an upload to the wrong place or with the wrong token.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { afterEach, describe, expect, it } from 'vitest'
import { CLI, exitAndStderr, killGroups } from '../node/utils/cli.ts'
import { Fixture } from './utils.ts'

const fx = new Fixture()
const children: ChildProcess[] = []
const servers: Array<ReturnType<typeof createServer>> = []
afterEach(async () => {
  killGroups(children)
  for (const s of servers.splice(0)) s.close()
  await fx.cleanup()
})

/** Runs `dandelion …` as its own process group, its stdout a pipe (as under a service manager). */
function run(args: string[]): ChildProcess {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], detached: true })
  children.push(child)
  return child
}

/** The origin's banner, up to and with its upload command. */
async function banner(child: ChildProcess): Promise<string> {
  const lines: string[] = []
  let last = false
  for await (const line of createInterface({ input: child.stdout! })) {
    lines.push(line)
    if (last) break
    last = line.startsWith('Upload a lesson')
  }
  return lines.join('\n')
}

/** An HTTP server on loopback answering every request with `status` and `body`. */
async function answering(status: number, body: unknown): Promise<string> {
  const server = createServer((_req, res) => {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body))
  })
  servers.push(server)
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`
}

describe('dandelion origin and upload: operator mistakes', () => {
  it('tells campus nodes which key to trust and which address to bootstrap from, and keeps the token out of npm', async () => {
    const data = await fx.dir()
    const origin = run([
      'origin',
      '--port',
      '0',
      '--data',
      data,
      '--min-free-disk-bytes',
      '0',
      '--p2p-listen',
      '/ip4/127.0.0.1/tcp/0',
    ])
    const text = await banner(origin)
    expect(text).toMatch(/origin key +12D3KooW\S+ .*--trusted-origin/)
    expect(text).toMatch(/seeding node +\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\/12D3KooW\S+ .*--bootstrap/)
    // npm echoes the command it runs: without --silent, the token read from the file lands
    // in the very output the banner keeps it out of
    const token = readFileSync(join(data, 'upload-token'), 'utf8').trim()
    expect(text).toContain(`npm run --silent dandelion -- upload lesson.mp4 --origin http://127.0.0.1:`)
    expect(text).not.toContain(token)
    process.kill(-origin.pid!, 'SIGTERM')
    expect((await once(origin, 'exit'))[0]).toBe(0)
  })

  it('says at start when the tracker refuses its token, instead of registering nothing in silence', async () => {
    const tracker = await answering(403, { error: { code: 'ERR_FORBIDDEN', message: 'invalid token' } })
    const origin = run([
      'origin',
      '--port',
      '0',
      '--data',
      await fx.dir(),
      '--no-seed',
      '--min-free-disk-bytes',
      '0',
      '--tracker-url',
      tracker,
      '--tracker-token',
      'not-the-admin-token',
    ])
    const text = await banner(origin)
    expect(text).toMatch(
      new RegExp(`tracker +${tracker} +WARNING: the tracker refused --tracker-token \\(403 ERR_FORBIDDEN\\)`),
    )
    process.kill(-origin.pid!, 'SIGTERM')
    await once(origin, 'exit')
  })

  it('an upload to an origin that is not there, or with a wrong token, says so in plain words', {
    timeout: 30_000,
  }, async () => {
    const file = (await fx.file(1024)).path
    const state = join(await fx.dir(), 'uploads.json')
    const upload = (origin: string, token: string) =>
      exitAndStderr(
        run([
          'upload',
          file,
          '--origin',
          origin,
          '--token',
          token,
          '--name',
          'x',
          '--type',
          'video',
          '--state',
          state,
        ]),
      )

    const served = await fx.origin()
    const wrongToken = await upload(served.url, 'not-the-upload-token')
    expect(wrongToken.code).toBe(1)
    expect(wrongToken.stderr).toContain(`the origin at ${served.url} refused the upload token (403`)
    expect(wrongToken.stderr).not.toContain('originated from request')

    const gone = served.url
    await served.close()
    const unreachable = await upload(gone, 'test-upload-token')
    expect(unreachable.code).toBe(1)
    expect(unreachable.stderr).toContain(`cannot reach the origin at ${gone} (connect ECONNREFUSED`)
    expect(unreachable.stderr).toContain('dandelion origin')
  })
})
