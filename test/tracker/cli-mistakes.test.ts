/**
 * `dandelion release` as a newcomer meets it, through the same runner as the process
 * (`runCommand`: a usage error exits 2, any other failure 1). A value the tracker would
 * read as something else, or refuse with words about a JSON body, is refused on the spot
 * naming the flag; `-h` shows the usage; an unreachable tracker names its address.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import { runCommand } from '../../node/cli-main.ts'
import { runReleaseCommand } from '../../tracker/cli.ts'
import { closedPort } from '../node/utils/cli.ts'
import { captureOutput } from './cli-output.ts'
import { ADMIN, Harness } from './harness.ts'

const h = new Harness()
afterEach(async () => {
  vi.restoreAllMocks()
  await h.teardown()
})

/** Runs `dandelion release …argv` and returns its exit status and what it printed. */
async function release(argv: string[]): Promise<{ status: number; out: string; err: string }> {
  const saved = process.exitCode
  process.exitCode = undefined
  try {
    const { out, err } = await captureOutput(() =>
      runCommand({ release: runReleaseCommand }, 'release', argv),
    )
    return { status: Number(process.exitCode ?? 0), out, err }
  } finally {
    process.exitCode = saved
  }
}

describe('dandelion release: newcomer mistakes', () => {
  it('refuses a numeric flag that is not a number, or out of range, naming the flag and the value', async () => {
    const t = await h.tracker()
    await h.seed(t)
    await h.api(t, 'POST', '/nodes', { id: 'n0', campus: 'bj-1' })
    const create = (flags: Record<string, string>) => {
      const all = { resource: 'lesson', version: '2', campuses: 'bj-1', ...flags }
      return [
        'create',
        '--tracker',
        t.url,
        '--token',
        ADMIN,
        ...Object.entries(all).flatMap(([k, v]) => [`--${k}`, v]),
      ]
    }
    const cases: Array<[string[], string, string]> = [
      // went out as no A/B split at all: the release gave every node version 2
      [create({ 'ab-percent': 'half' }), '--ab-percent', 'half'],
      [create({ 'ab-version': '1', 'ab-percent': 'half' }), '--ab-percent', 'half'],
      [create({ 'ab-version': '1', 'ab-percent': '150' }), '--ab-percent', '150'],
      [create({ 'ab-version': 'one' }), '--ab-version', 'one'],
      // were "must be >= 1" / "must be > 0" from the tracker, exit 1
      [create({ version: 'abc' }), '--version', 'abc'],
      [create({ version: '0' }), '--version', '0'],
      [create({ ratio: 'abc' }), '--ratio', 'abc'],
      [create({ ratio: '95' }), '--ratio', '95'],
      [create({ stages: '5,abc,100' }), '--stages', 'abc'],
      [create({ stages: '0,100' }), '--stages', '0'],
      [create({ gate: 'sometimes' }), '--gate', 'sometimes'],
      [create({ 'outcome-timeout': '45d' }), '--outcome-timeout', '45d'],
      [create({ 'activate-at': 'next monday 8am' }), '--activate-at', 'next monday 8am'],
      [['advance', 'r1', '--tracker', t.url, '--token', ADMIN, '--from', 'abc'], '--from', 'abc'],
      [['advance', 'r1', '--tracker', t.url, '--token', ADMIN, '--from', '25'], '--from', '25'],
    ]
    for (const [argv, flag, value] of cases) {
      const r = await release(argv)
      expect(r.status, `${argv.join(' ')} → ${r.err}`).toBe(2)
      expect(r.err, argv.join(' ')).toContain(flag)
      expect(r.err, argv.join(' ')).toContain(value)
    }
    expect(await h.api(t, 'GET', '/releases')).toEqual([])
  })

  it('refuses a create without targets, saying which flags give them', async () => {
    const t = await h.tracker()
    await h.seed(t)
    const base = ['create', '--tracker', t.url, '--token', ADMIN, '--resource', 'lesson', '--version', '2']
    for (const argv of [base, [...base, '--cities', '']]) {
      const r = await release(argv)
      expect(r.status, r.err).toBe(2)
      for (const flag of ['--cities', '--campuses', '--labels', '--nodes']) expect(r.err).toContain(flag)
      expect(r.err).not.toContain('fewer than 1 properties')
    }
  })

  it('refuses `release status` without an id, with its usage, before any request', async () => {
    const r = await release([
      'status',
      '--tracker',
      `http://127.0.0.1:${await closedPort()}`,
      '--token',
      ADMIN,
    ])
    expect(r.status).toBe(2)
    expect(r.err).toContain('release status <id>')
    expect(r.err).not.toContain('undefined')
  })

  it('shows the usage for -h as for --help, on every subcommand, without a token', async () => {
    const saved = process.env.DANDELION_ADMIN_TOKEN
    delete process.env.DANDELION_ADMIN_TOKEN
    try {
      for (const sub of ['create', 'list', 'status', 'advance', 'pause', 'resume', 'abort', 'rollback']) {
        for (const help of ['-h', '--help']) {
          const r = await release([sub, '--resource', 'lesson', help])
          expect(r.status, `${sub} ${help} → ${r.err}`).toBe(0)
          expect(r.out).toContain('Usage: dandelion release')
        }
      }
    } finally {
      if (saved !== undefined) process.env.DANDELION_ADMIN_TOKEN = saved
    }
  })

  it('names the tracker address, and how to set it, when the tracker cannot be reached', async () => {
    const url = `http://127.0.0.1:${await closedPort()}`
    for (const argv of [['list'], ['status', 'r1'], ['pause', 'r1']]) {
      const r = await release([...argv, '--tracker', url, '--token', ADMIN])
      expect(r.status, r.err).toBe(1)
      expect(r.err).toContain(`cannot reach the tracker at ${url}`)
      expect(r.err).toContain('--tracker')
      expect(r.err).toContain('DANDELION_TRACKER_URL')
      expect(r.err).toContain('ECONNREFUSED')
    }
    // the channel's address is not the API's
    const ws = await release(['list', '--tracker', `ws://127.0.0.1:7070/channel`, '--token', ADMIN])
    expect(ws.status).toBe(2)
    expect(ws.err).toContain('--tracker')
    expect(ws.err).toContain('channelUrl')
  })
})
