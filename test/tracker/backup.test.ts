/**
 * Backups of a running tracker (`POST /api/v1/backups`, `dandelion backup`): taken while it
 * works, restored into an empty data directory while it is stopped, the restored tracker is the
 * one backed up (same key: its nodes obey it and reconnect), as of the backup's moment. A
 * damaged backup or a data directory in use is refused before anything is written.
 */
import { appendFile, readdir, readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { runBackupCommand } from '../../tracker/cli.ts'
import { trackerInitFromArgs } from '../../tracker/cli-tracker-args.ts'
import { captureOutput } from './cli-output.ts'
import { ADMIN, Harness, until } from './harness.ts'
import { createRelease, http, untilCompleted } from './wire.ts'

const h = new Harness()
afterEach(() => h.teardown())

/** Runs the command in this process; its exit code and what it printed. */
async function run(argv: string[]): Promise<{ code: number; out: string }> {
  const { value, out } = await captureOutput(() => runBackupCommand(argv))
  return { code: value, out }
}

describe('tracker backups', () => {
  it('are scheduled by --backup-interval and --backup-keep, wrong values refused naming the flag', () => {
    const tokens = ['--admin-token', ADMIN, '--enrollment-token', 'enroll-token-x']
    expect(
      trackerInitFromArgs(['--backup-interval', '6h', '--backup-keep', '14', ...tokens], {}),
    ).toMatchObject({
      backupIntervalMs: 6 * 3_600_000,
      backupKeep: 14,
    })
    expect(trackerInitFromArgs(tokens, {})).toMatchObject({
      backupIntervalMs: undefined,
      backupKeep: undefined,
    })
    expect(() => trackerInitFromArgs(['--backup-keep', '0', ...tokens], {})).toThrow(/--backup-keep "0"/)
    expect(() => trackerInitFromArgs(['--backup-interval', 'nightly', ...tokens], {})).toThrow(
      /--backup-interval "nightly"/,
    )
  })

  it('restore the tracker as of the backup, with its key: its nodes reconnect to it', {
    timeout: 60_000,
  }, async () => {
    const dataDir = await h.tmp()
    let t = await h.tracker({ dataDir })
    await h.seed(t)
    const nodes = await Promise.all([0, 1].map((i) => h.agent([t.channelUrl], `n${i}`, { campus: 'bj-1' })))
    await until(() => nodes.every((n) => n.agent.connected), 'nodes connected')
    const rel = await createRelease(t, { version: 1, targets: { campuses: ['bj-1'] } })
    await untilCompleted(t, rel)
    const token = (await http(t, 'POST', '/enrollment-tokens', { campus: 'bj-2' })).body

    // taken while nodes register in parallel: each change is wholly in it or not at all
    const writes = Array.from({ length: 100 }, (_, i) =>
      http(t, 'POST', '/nodes', { id: `pre-${i}`, campus: 'sh-1' }),
    )
    const taken = await run(['create', '--tracker', t.url, '--token', ADMIN, '--json'])
    await Promise.all(writes)
    expect(taken.code).toBe(0)
    const info = JSON.parse(taken.out)
    expect(info).toMatchObject({
      trackerId: t.trackerId,
      entries: expect.any(Number),
      sha256: expect.any(String),
    })
    const dir = join(dataDir, 'backups', info.name)
    expect((await readdir(dir)).sort()).toEqual(['backup.json', 'state.ndjson', 'tracker.key'])
    expect((await stat(join(dir, 'tracker.key'))).mode & 0o777).toBe(0o600)
    expect((await readFile(join(dir, 'state.ndjson'), 'utf8')).split('\n').length - 1).toBe(info.entries)
    const listed = await run(['list', '--tracker', t.url, '--token', ADMIN])
    expect(listed.out).toContain(info.name)

    // changed after the backup: not in the restore
    await http(t, 'POST', '/cities', { id: 'gz', name: 'Guangzhou' })
    const port = Number(new URL(t.url).port)
    await t.close()

    const restored = await h.tmp()
    const done = await run(['restore', '--from', dir, '--data-dir', restored])
    expect(done.out).toContain(`restored ${info.name}`)
    t = await h.tracker({ dataDir: restored, port })
    expect(t.trackerId).toBe(info.trackerId)
    // the nodes obey the same key: they come back by themselves
    await until(() => nodes.every((n) => n.agent.connected), 'nodes reconnected to the restored tracker')
    expect((await http(t, 'GET', `/releases/${rel}`)).body.release).toMatchObject({ status: 'completed' })
    expect((await http(t, 'GET', '/cities/gz')).status).toBe(404)
    expect((await http(t, 'GET', '/cities')).body.map((c: { id: string }) => c.id).sort()).toEqual([
      'bj',
      'sh',
    ])
    expect((await http(t, 'GET', `/enrollment-tokens/${token.id}`)).body).toMatchObject({ campus: 'bj-2' })
    // the parallel registrations: each is there whole or absent, never half written
    const pre = (await http(t, 'GET', '/nodes?limit=1000')).body.nodes.filter((n: { id: string }) =>
      n.id.startsWith('pre-'),
    )
    for (const n of pre) expect(n).toMatchObject({ campus: 'sh-1', labels: [] })
    // and the restored tracker takes changes and enrollments as before
    const n2 = await h.agent([t.channelUrl], 'n2', { token: token.token })
    await until(() => n2.agent.connected, 'a new node enrolled on the restored tracker')
  })

  it('refuse a damaged backup and a data directory in use, writing nothing; keep the newest only', {
    timeout: 30_000,
  }, async () => {
    const dataDir = await h.tmp()
    const t = await h.tracker({ dataDir, backupKeep: 2 })
    await h.seed(t)
    const names: string[] = []
    for (let i = 0; i < 3; i++) {
      names.push((await http(t, 'POST', '/backups')).body.name)
      // names are UTC times in ms: two backups in one millisecond would be one
      await new Promise((r) => setTimeout(r, 2))
    }
    const kept = (await http(t, 'GET', '/backups')).body.map((b: { name: string }) => b.name)
    expect(kept).toEqual(names.slice(1))
    // its age is a metric to alert on, known again after a restart
    const lastAt = (await http(t, 'GET', '/backups')).body.at(-1).createdAt
    const metric = async (tr: typeof t): Promise<number> =>
      Number(
        /^dandelion_tracker_backup_last_timestamp_seconds (\S+)$/m.exec(
          (await http(tr, 'GET', '/metrics')).body,
        )?.[1],
      )
    expect(await metric(t)).toBe(lastAt / 1000)
    expect((await http(t, 'GET', '/metrics')).body).toMatch(
      /^# TYPE dandelion_tracker_backup_failures_total counter\n(?:#.*\n)?dandelion_tracker_backup_failures_total 0$/m,
    )
    await t.close()
    const again = await h.tracker({ dataDir, backupKeep: 2 })
    await until(async () => (await metric(again)) === lastAt / 1000, 'the newest backup read at start')

    // into the running tracker's own directory: refused
    const dir = join(dataDir, 'backups', names[2] as string)
    await again.close()
    await expect(run(['restore', '--from', dir, '--data-dir', dataDir])).rejects.toMatchObject({
      code: 'ERR_RESTORE_TARGET_IN_USE',
    })
    // a backup changed after it was taken: refused before anything is written
    await appendFile(join(dir, 'state.ndjson'), '["city!evil",{"id":"evil","name":"x"}]\n')
    const target = await h.tmp()
    await expect(run(['restore', '--from', dir, '--data-dir', target])).rejects.toMatchObject({
      code: 'ERR_BACKUP_INVALID',
      message: expect.stringContaining('SHA-256'),
    })
    expect(await readdir(target)).toEqual([])
    await expect(run(['restore', '--from', target, '--data-dir', await h.tmp()])).rejects.toMatchObject({
      code: 'ERR_BACKUP_INVALID',
    })
    await expect(run(['restore', '--from', dir])).rejects.toMatchObject({ code: 'ERR_INVALID_CONFIG' })

    // scheduled: --backup-interval takes them by itself, the newest --backup-keep kept
    const scheduled = await h.tracker({ dataDir: await h.tmp(), backupIntervalMs: 100, backupKeep: 2 })
    await until(
      async () => (await http(scheduled, 'GET', '/backups')).body.length === 2,
      'two scheduled backups',
    )
    const first = (await http(scheduled, 'GET', '/backups')).body[0].name
    await until(
      async () => (await http(scheduled, 'GET', '/backups')).body[0].name !== first,
      'the oldest replaced',
    )
    expect((await http(scheduled, 'GET', '/backups')).body).toHaveLength(2)

    // a tracker in memory has nothing to back up
    const memory = await h.tracker()
    expect((await http(memory, 'POST', '/backups')).body.error.code).toBe('ERR_NO_DATA_DIR')
  })
})
