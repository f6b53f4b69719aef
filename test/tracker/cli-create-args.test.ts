/**
 * `dandelion release create` retries a create whose connection failed. A key or a tracker
 * address that cannot even be sent is the operator's mistake, not a lost answer: it is
 * refused at once, not retried for seconds as a network failure.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import { runReleaseCommand } from '../../tracker/cli.ts'
import { ADMIN, Harness } from './harness.ts'

const h = new Harness()
afterEach(async () => {
  vi.restoreAllMocks()
  await h.teardown()
})

describe('dandelion release create arguments', () => {
  it('refuses an idempotency key or a tracker address it cannot send, without retrying', async () => {
    const t = await h.tracker()
    await h.seed(t)
    await h.api(t, 'POST', '/nodes', { id: 'n0', campus: 'bj-1' })
    const stderr: string[] = []
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      stderr.push(chunk.toString())
      return true
    })
    vi.spyOn(process.stdout, 'write').mockImplementation(() => true)
    const create = (tracker: string, key: string) =>
      runReleaseCommand([
        'create',
        ...['--tracker', tracker, '--token', ADMIN, '--resource', 'lesson', '--version', '2'],
        ...['--campuses', 'bj-1', '--idempotency-key', key],
      ])
    await expect(create(t.url, '課程-2')).rejects.toMatchObject({
      name: 'InvalidConfigError',
      message: expect.stringContaining('--idempotency-key'),
    })
    await expect(create(t.url, 'has space')).rejects.toMatchObject({ name: 'InvalidConfigError' })
    await expect(create('not a url', 'lesson-2')).rejects.toMatchObject({
      name: 'InvalidConfigError',
      message: expect.stringContaining('--tracker'),
    })
    expect(stderr.filter((l) => l.includes('retrying'))).toEqual([])
    vi.restoreAllMocks()
    expect(await h.api(t, 'GET', '/releases')).toHaveLength(0)
  })
})
