/**
 * `dandelion enroll-token`: an operator issues a token for a campus, a node enrolls with it,
 * the list shows it used, and revoking it is seen in the list; wrong flags are refused before
 * anything is sent.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { runEnrollTokenCommand } from '../../tracker/cli.ts'
import { captureOutput } from './cli-output.ts'
import { ADMIN, Harness, until } from './harness.ts'

const h = new Harness()
afterEach(() => h.teardown())

/** Runs the command in this process; its exit code and what it printed on stdout and stderr. */
async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const { value, out, err } = await captureOutput(() => runEnrollTokenCommand(argv))
  return { code: value, out, err }
}

describe('dandelion enroll-token', () => {
  it('issues a token a node enrolls with, lists it used, and revokes it', { timeout: 30_000 }, async () => {
    const t = await h.tracker()
    await h.seed(t)
    const common = ['--tracker', t.url, '--token', ADMIN]
    const created = await run([
      'create',
      ...common,
      '--campus',
      'sh-1',
      '--ttl',
      '2d',
      '--uses',
      '3',
      '--note',
      'SH rack',
    ])
    expect(created.code).toBe(0)
    // stdout carries the token alone (for a script), stderr what it is for
    const token = created.out.trim()
    expect(token).toMatch(/^det_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/)
    expect(created.err).toContain('campus sh-1, 3 node(s), until')
    expect(created.err).toContain('--enroll-token')

    const node = await h.agent([t.channelUrl], 'n0', { token })
    await until(() => node.agent.connected, 'node enrolled with the issued token')
    expect(t.state.inventory.nodes.get('n0')?.campus).toBe('sh-1')

    const listed = await run(['list', ...common])
    const id = token.slice(4, 20)
    const line = listed.out.split('\n').find((l) => l.startsWith(id)) ?? ''
    expect(line).toMatch(/active\s+sh-1\s+1\/3\s+\S+Z\s+SH rack/)
    expect(listed.out).not.toContain(token.slice(21))

    expect((await run(['revoke', ...common, id])).out).toContain(`enrollment token ${id} revoked`)
    expect((await run(['list', ...common])).out).toContain('no enrollment tokens issued')
    const json = JSON.parse((await run(['list', ...common, '--json'])).out)
    expect(json).toEqual([])
  })

  it('refuses wrong flags before sending anything', async () => {
    const common = ['--tracker', 'http://127.0.0.1:1', '--token', ADMIN]
    await expect(run(['create', ...common, '--ttl', '0s'])).rejects.toMatchObject({
      code: 'ERR_INVALID_CONFIG',
    })
    await expect(run(['create', ...common, '--ttl', '400d'])).rejects.toThrow(/366d/)
    await expect(run(['create', ...common, '--uses', 'two'])).rejects.toThrow(/--uses "two"/)
    await expect(run(['revoke', ...common])).rejects.toThrow(/missing token id/)
    expect((await run(['--help'])).out).toContain('dandelion enroll-token <command>')
  })
})
