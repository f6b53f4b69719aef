/**
 * `dandelion operator`: the administrator issues a token for a person and one for a script,
 * each acts with its role and is named in the audit trail, the list shows them and their last
 * use, and revoking one is seen in the list and refuses its next request; wrong flags are
 * refused before anything is sent.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { runNodesCommand, runOperatorCommand } from '../../tracker/cli.ts'
import { captureOutput } from './cli-output.ts'
import { ADMIN, Harness, until } from './harness.ts'

const h = new Harness()
afterEach(() => h.teardown())

/** Runs the command in this process; its exit code and what it printed on stdout and stderr. */
async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const { value, out, err } = await captureOutput(() => runOperatorCommand(argv))
  return { code: value, out, err }
}

describe('dandelion operator', () => {
  it('issues tokens that act with their role, lists them, and revokes one', { timeout: 30_000 }, async () => {
    const t = await h.tracker()
    await h.seed(t)
    const common = ['--tracker', t.url, '--token', ADMIN]
    const created = await run(['create', 'zhang.wei', '--role', 'admin', ...common])
    expect(created.code).toBe(0)
    // stdout carries the token alone (for a script), stderr what it is
    const zhang = created.out.trim()
    expect(zhang).toMatch(/^dop_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/)
    expect(created.err).toContain('operator zhang.wei: admin, no expiry')
    const viewer = await run(['create', 'grafana', '--role', 'viewer', '--ttl', '90d', ...common])
    expect(viewer.err).toMatch(/operator grafana: viewer, until \S+Z/)
    const grafana = viewer.out.trim()

    // the operator's token with the other commands: zhang.wei changes, grafana reads
    await h.api(t, 'POST', '/nodes', { id: 'n0', campus: 'bj-1' })
    const nodes = await captureOutput(() => runNodesCommand(['list', '--tracker', t.url, '--token', grafana]))
    expect(nodes.out).toContain('n0')
    await expect(
      run(['create', 'mallory', '--role', 'admin', '--tracker', t.url, '--token', zhang]),
    ).rejects.toThrow(/403 ERR_FORBIDDEN .*own admin token only/)
    const res = await fetch(`${t.url}/api/v1/nodes/n0`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${zhang}`, 'content-type': 'application/json' },
      body: JSON.stringify({ labels: ['lab'] }),
    })
    expect(res.status).toBe(200)
    await until(
      async () => (await h.api(t, 'GET', '/audit?limit=1'))[0]?.actor === 'zhang.wei',
      'change named',
    )

    const listed = await run(['list', '--tracker', t.url, '--token', zhang])
    const line = (name: string) => listed.out.split('\n').find((l) => l.startsWith(name)) ?? ''
    expect(line('zhang.wei')).toMatch(/^zhang\.wei\s+admin\s+active\s+\S+Z\s+never\s+\S+Z$/)
    expect(line('grafana')).toMatch(/^grafana\s+viewer\s+active\s+\S+Z\s+\S+Z\s+\S+Z$/)
    expect(listed.out).not.toContain(zhang.slice(21))

    expect((await run(['revoke', 'grafana', ...common])).out).toContain('operator grafana revoked')
    await expect(
      captureOutput(() => runNodesCommand(['list', '--tracker', t.url, '--token', grafana])),
    ).rejects.toThrow(/401 ERR_OPERATOR_TOKEN_REVOKED .*grafana was revoked/)
    expect((await run(['list', ...common])).out).toMatch(/grafana\s+viewer\s+revoked .*revoked \S+Z/)
    const json = JSON.parse((await run(['list', ...common, '--json'])).out)
    expect(json.map((o: { name: string; state: string }) => `${o.name} ${o.state}`)).toEqual([
      'zhang.wei active',
      'grafana revoked',
    ])
    await expect(run(['revoke', 'grafana', ...common])).rejects.toThrow(/404 ERR_NOT_FOUND/)
  })

  it('refuses wrong flags before sending anything', async () => {
    const common = ['--tracker', 'http://127.0.0.1:1', '--token', ADMIN]
    await expect(run(['create', 'bob', ...common])).rejects.toThrow(/--role admin\|viewer required/)
    await expect(run(['create', 'bob', '--role', 'root', ...common])).rejects.toThrow(/--role "root"/)
    await expect(run(['create', 'bob', '--role', 'admin', '--ttl', '0s', ...common])).rejects.toMatchObject({
      code: 'ERR_INVALID_CONFIG',
    })
    await expect(run(['create', 'bob', '--role', 'admin', '--ttl', '400d', ...common])).rejects.toThrow(
      /366d/,
    )
    await expect(run(['create', '--role', 'admin', ...common])).rejects.toThrow(/missing operator name/)
    await expect(run(['revoke', ...common])).rejects.toThrow(/dandelion operator revoke <name>/)
    expect((await run(['--help'])).out).toContain('dandelion operator <command>')
    expect((await run(['list', '--help'])).out).toContain('revoke <name>')
  })
})
