/**
 * `dandelion tracker --catch-up-retry <d> --catch-up-retry-max <d>`: the backoff of a late
 * member's catch-up retries (`tracker/rollout/catch-up.ts`), set from the command line. The
 * flags are read as durations, a wrong one refused naming the flag and the value before
 * anything starts; and a tracker started through `runTrackerCommand` (loopback, on disk,
 * real agents) schedules its retries with them: first delay, then doubled up to the cap.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import { InvalidConfigError } from '../../node/errors.ts'
import { runTrackerCommand } from '../../tracker/cli.ts'
import { trackerInitFromArgs } from '../../tracker/cli-tracker-args.ts'
import type { ReleaseNode } from '../../tracker/index.ts'
import { MemoryContent } from '../node/agent/memory-content.ts'
import { ADMIN, ENROLL, Harness, lessonCid, until } from './harness.ts'
import { http } from './wire.ts'

const h = new Harness()
const running: Array<{ stop: AbortController; done: Promise<void> }> = []
afterEach(async () => {
  vi.restoreAllMocks()
  await h.teardown()
  for (const r of running.splice(0)) {
    r.stop.abort()
    await r.done.catch(() => {})
  }
})

const tokens = ['--admin-token', ADMIN, '--enrollment-token', ENROLL, '--port', '0']

/** What `dandelion tracker <args>` refuses with, before it starts anything. */
async function refusal(...args: string[]): Promise<Error> {
  const err = await runTrackerCommand([...args, ...tokens]).then(
    () => undefined,
    (e: unknown) => e as Error,
  )
  expect(err).toBeInstanceOf(InvalidConfigError)
  return err as Error
}

/** `dandelion tracker <args>` in this process; resolves with its URLs once it printed them. */
async function startTracker(args: string[]): Promise<{ url: string; channelUrl: string }> {
  let printed = ''
  const write = process.stdout.write.bind(process.stdout)
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array, ...rest: unknown[]) => {
    const text = chunk.toString()
    if (!text.startsWith('{"url"')) return write(chunk, ...(rest as []))
    printed += text
    return true
  })
  const stop = new AbortController()
  const done = runTrackerCommand([...args, ...tokens], { signal: stop.signal })
  running.push({ stop, done })
  await Promise.race([until(() => printed.includes('\n'), 'the ready line'), done])
  vi.restoreAllMocks()
  return JSON.parse(printed)
}

/** The admin API over loopback, as an operator's client calls it: the body of a 2xx answer. */
// biome-ignore lint/suspicious/noExplicitAny: whatever JSON the API answers
async function api(url: string, method: string, path: string, body?: unknown): Promise<any> {
  const res = await http({ url }, method, path, body)
  if (res.status >= 300) throw new Error(`${method} ${path} → ${res.status} ${JSON.stringify(res.body)}`)
  return res.body
}

describe('dandelion tracker --catch-up-retry', () => {
  it('reads both flags as durations, and leaves the defaults to createTracker without them', () => {
    const env = {}
    expect(
      trackerInitFromArgs(['--catch-up-retry', '10m', '--catch-up-retry-max', '24h', ...tokens], env),
    ).toMatchObject({ catchUpRetryInitialMs: 600_000, catchUpRetryMaxMs: 86_400_000 })
    expect(trackerInitFromArgs(['--catch-up-retry', '90s', ...tokens], env)).toMatchObject({
      catchUpRetryInitialMs: 90_000,
      catchUpRetryMaxMs: undefined,
    })
    // a cap alone, below the default first delay, caps the first delay too
    expect(trackerInitFromArgs(['--catch-up-retry-max', '5m', ...tokens], env)).toMatchObject({
      catchUpRetryInitialMs: undefined,
      catchUpRetryMaxMs: 300_000,
    })
    const none = trackerInitFromArgs(tokens, env)
    expect(none.catchUpRetryInitialMs).toBeUndefined()
    expect(none.catchUpRetryMaxMs).toBeUndefined()
  })

  it('refuses a value it cannot read, or a cap shorter than the first delay, naming the flag', async () => {
    expect((await refusal('--catch-up-retry', 'soon')).message).toBe(
      '--catch-up-retry "soon": a duration above 0 such as 10m or 1h',
    )
    expect((await refusal('--catch-up-retry', '0')).message).toMatch(/^--catch-up-retry "0": a duration/)
    expect((await refusal('--catch-up-retry-max', 'a day')).message).toBe(
      '--catch-up-retry-max "a day": a duration above 0 such as 24h or 6h',
    )
    expect((await refusal('--catch-up-retry', '2h', '--catch-up-retry-max', '1h')).message).toBe(
      '--catch-up-retry-max "1h": shorter than --catch-up-retry "2h"; the longest delay is at least the first',
    )
    // cut to the default cap without a word otherwise
    expect((await refusal('--catch-up-retry', '2d')).message).toBe(
      '--catch-up-retry "2d": longer than the longest delay, 24h by default: raise --catch-up-retry-max too',
    )
    // a flag with no value is parseArgs' own usage error
    await expect(runTrackerCommand([...tokens, '--catch-up-retry'])).rejects.toThrow(/--catch-up-retry/)
  })

  it('is honoured by a tracker started through the command: first delay, then doubled up to the cap', async () => {
    const { url, channelUrl } = await startTracker([
      '--data-dir',
      await h.tmp(),
      '--retransmit-ms',
      '200',
      '--catch-up-retry',
      '300ms',
      '--catch-up-retry-max',
      '450ms',
    ])
    await api(url, 'POST', '/cities', { id: 'bj', name: 'Beijing' })
    await api(url, 'POST', '/campuses', { id: 'bj-1', city: 'bj', name: 'BJ one' })
    await api(url, 'POST', '/resources/lesson/versions', {
      version: 1,
      manifestCid: lessonCid(1),
      size: 1000,
      type: 'video',
    })
    await api(url, 'POST', '/resources/lesson/versions/1/approve')
    const early = await h.agent([channelUrl], 'n0', { campus: 'bj-1' })
    await until(() => early.agent.connected, 'n0 connected')
    const { id } = await api(url, 'POST', '/releases', {
      resource: 'lesson',
      version: 1,
      targets: { campuses: ['bj-1'] },
    })
    await until(
      async () => (await api(url, 'GET', `/releases/${id}`)).release.status === 'completed',
      'release completed',
    )

    // a late member whose every catch-up fails: each failure as the API shows it, the
    // delay before its next attempt by attempt
    const content = new MemoryContent()
    content.failing.add(lessonCid(1))
    await h.agent([channelUrl], 'late', { campus: 'bj-1', content })
    const delays = new Map<number, number>()
    const failedAttempts = async (): Promise<number[]> => {
      const { nodes } = await api(url, 'GET', `/releases/${id}/nodes`)
      const rn: ReleaseNode | undefined = nodes.find((n: ReleaseNode) => n.nodeId === 'late')
      if (rn?.retryAt !== undefined && rn.lastFailure !== undefined && rn.attempts !== undefined)
        delays.set(rn.attempts, rn.retryAt - rn.lastFailure.at)
      return [...delays.keys()]
    }
    await until(async () => (await failedAttempts()).includes(1), 'the first failed attempt')
    expect(delays.get(1)).toBe(300)
    await until(async () => (await failedAttempts()).some((a) => a >= 2), 'a second failed attempt')
    // 600 ms doubled, cut to the cap
    for (const [attempts, delay] of delays) if (attempts >= 2) expect(delay, `attempt ${attempts}`).toBe(450)
  })
})
