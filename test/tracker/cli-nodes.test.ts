/**
 * `dandelion nodes list`: an operator looks for the offline nodes of a campus and what the
 * others run, with the viewer token; real tracker, real agents, the API over HTTP.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { runNodesCommand } from '../../tracker/cli.ts'
import { captureOutput } from './cli-output.ts'
import { Harness, until } from './harness.ts'

const h = new Harness()
afterEach(() => h.teardown())

const VIEWER = 'viewer-token-nodes'

/** Runs the command in this process; its exit code and what it printed. */
async function run(argv: string[]): Promise<{ code: number; out: string }> {
  const { value, out } = await captureOutput(() => runNodesCommand(argv))
  return { code: value, out }
}

describe('dandelion nodes', () => {
  it('lists nodes online and offline, where they are and what they run; filters the offline', {
    timeout: 30_000,
  }, async () => {
    const t = await h.tracker({ viewerToken: VIEWER })
    await h.seed(t)
    const a = await h.agent([t.channelUrl], 'n0', { campus: 'bj-1', version: '2.0.0' })
    const b = await h.agent([t.channelUrl], 'n1', { campus: 'sh-1', version: '1.9.0' })
    await h.api(t, 'POST', '/nodes', { id: 'spare', campus: 'bj-2', labels: ['rack-2'] })
    await until(() => a.agent.connected && b.agent.connected)
    await until(async () => (await h.api(t, 'GET', '/nodes/n1')).version === '1.9.0')
    await b.agent.stop()
    await until(async () => (await h.api(t, 'GET', '/nodes/n1')).connected === false)
    const common = ['--tracker', t.url, '--token', VIEWER]

    const all = await run(['list', ...common])
    expect(all.code).toBe(0)
    const line = (id: string) => all.out.split('\n').find((l) => l.startsWith(id)) ?? ''
    expect(line('n0')).toMatch(/^n0 +bj\/bj-1 +online +2\.0\.0/)
    expect(line('n1')).toMatch(/^n1 +sh\/sh-1 +offline \d+s +1\.9\.0/)
    expect(line('spare')).toMatch(/^spare +bj\/bj-2 +not enrolled +\? +rack-2$/)
    expect(all.out).toContain('3 node(s), 1 online; by version: 2.0.0 1, 1.9.0 1, unknown 1')

    const offline = await run(['list', ...common, '--offline', '--city', 'sh'])
    expect(
      offline.out
        .split('\n')
        .filter((l) => /^(n0|n1|spare) /.test(l))
        .map((l) => l.split(' ')[0]),
    ).toEqual(['n1'])
    const json = JSON.parse((await run(['list', ...common, '--version', '2.0.0', '--json'])).out)
    expect(json.map((n: { id: string }) => n.id)).toEqual(['n0'])
    expect((await run(['nope', ...common])).code).toBe(2)
  })
})
