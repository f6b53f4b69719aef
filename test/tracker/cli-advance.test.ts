/**
 * `dandelion release advance` sends the stage it advances from, so that retrying it, or
 * running it twice, never skips a stage: against a tracker on a level store, through a
 * proxy that loses the answer to the first advance after the tracker took it.
 */
import { once } from 'node:events'
import { createServer, request, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { runReleaseCommand } from '../../tracker/cli.ts'
import type { Tracker } from '../../tracker/index.ts'
import { captureOutput } from './cli-output.ts'
import { ADMIN, Harness } from './harness.ts'
import { http, THREE_MANUAL_STAGES } from './wire.ts'

const h = new Harness()
const servers: Server[] = []
afterEach(async () => {
  vi.restoreAllMocks()
  for (const s of servers.splice(0)) {
    s.closeAllConnections()
    s.close()
  }
  await h.teardown()
})

/** Runs the command and returns what it printed on stdout and stderr. */
async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const { value: code, out, err } = await captureOutput(() => runReleaseCommand(argv))
  return { code, out, err }
}

/**
 * A proxy to `t` that forwards every request, but drops the connection of the first
 * `POST …/advance` once the tracker has answered it: the change is made, its answer lost.
 */
async function losingFirstAdvanceAnswer(t: Tracker): Promise<{ url: string; advances: number }> {
  const target = new URL(t.url)
  const seen = { url: '', advances: 0 }
  const server = createServer((req, res) => {
    const advance = req.method === 'POST' && req.url?.endsWith('/advance') === true
    if (advance) seen.advances++
    const lose = advance && seen.advances === 1
    const fwd = request(
      { host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers },
      (answer) => {
        if (lose) {
          answer.resume()
          answer.on('end', () => req.socket.destroy())
          return
        }
        res.writeHead(answer.statusCode ?? 502, answer.headers)
        answer.pipe(res)
      },
    )
    req.pipe(fwd)
  })
  servers.push(server)
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  seen.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return seen
}

/** A tracker on disk, 4 offline nodes in bj-1, and a release in three manually gated stages. */
async function release(): Promise<{ t: Tracker; id: string }> {
  const t = await h.tracker({ dataDir: await h.tmp() })
  await h.seed(t)
  for (const id of ['a', 'b', 'c', 'd']) await h.api(t, 'POST', '/nodes', { id, campus: 'bj-1' })
  const res = await http(t, 'POST', '/releases', {
    resource: 'lesson',
    version: 1,
    targets: { campuses: ['bj-1'] },
    stages: THREE_MANUAL_STAGES,
  })
  expect(res.status).toBe(201)
  return { t, id: res.body.id }
}

describe('dandelion release advance', () => {
  it('retries an advance whose answer was lost without moving the release a second stage', async () => {
    const { t, id } = await release()
    const proxy = await losingFirstAdvanceAnswer(t)

    const r = await run(['advance', id, '--tracker', proxy.url, '--token', ADMIN])
    expect(r.code).toBe(0)
    // the first try was taken and its answer lost; the retry found the release one stage on
    expect(proxy.advances).toBe(2)
    expect(r.err).toContain('retrying')
    expect(r.err).toContain('advanced it already')
    expect(JSON.parse(r.out)).toMatchObject({ id, stage: 1 })
    const s = (await http(t, 'GET', `/releases/${id}`)).body
    expect(s.release.stage).toBe(1)
    expect(s.counts.waiting).toBe(2)
  })

  it('advances from the stage given as status shows it, and refuses one the release has left', async () => {
    const { t, id } = await release()
    const common = ['--tracker', t.url, '--token', ADMIN]
    expect((await run(['status', id, ...common])).out).toContain('stage 1/3')
    expect(JSON.parse((await run(['advance', id, '--from', '1', ...common])).out).stage).toBe(1)

    // run again with what the operator saw before: refused, nothing changes
    await expect(run(['advance', id, '--from', '1', ...common])).rejects.toThrow(/409 ERR_STAGE_MISMATCH/)
    expect((await http(t, 'GET', `/releases/${id}`)).body.release.stage).toBe(1)
    await expect(run(['advance', id, '--from', 'x', ...common])).rejects.toMatchObject({
      name: 'InvalidConfigError',
    })

    // without --from it advances from where the release is now, once per run
    expect(JSON.parse((await run(['advance', id, ...common])).out).stage).toBe(2)
    await expect(run(['advance', id, ...common])).rejects.toThrow(
      /409 ERR_INVALID_RELEASE_STATE .*last stage/,
    )
  })
})
