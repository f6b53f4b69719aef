/**
 * The issued enrollment tokens' repository on a level store: what is kept (a hash, never the
 * secret), what a restart loads, and tokens that stopped enrolling long ago swept as the next
 * is issued so that the list cannot fill up with them.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { ENROLLMENT_TOKEN_RETENTION_MS, MAX_ENROLLMENT_TOKENS } from '../../../tracker/constants.ts'
import { TrackerState } from '../../../tracker/state/index.ts'

const dirs: string[] = []
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true })
})

const DAY = 24 * 3600 * 1000

describe('enrollment tokens in the state', () => {
  it('keep a hash of the secret on disk, load after a restart, and sweep long-finished ones', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dandelion-etok-'))
    dirs.push(dir)
    let state = new TrackerState(dir)
    await state.open()
    const t0 = Date.now() - 100 * DAY
    const tx = state.tx()
    const tokens = state.enrollmentTokens
    const old = tokens.issue(tx, { expiresAt: t0 + DAY }, t0)
    const usedUp = tokens.issue(tx, { expiresAt: t0 + 90 * DAY, maxUses: 1 }, t0)
    tokens.use(tx, usedUp.record.id, 'n0', t0 + 2 * DAY)
    const recent = tokens.issue(tx, { expiresAt: Date.now() - DAY }, t0)
    const live = tokens.issue(tx, { campus: 'bj-1', expiresAt: Date.now() + DAY }, t0 + 1)
    await tx.commit({ sync: true })
    await state.close()

    // nothing on disk holds a token's secret
    let disk = ''
    for (const f of await readdir(dir)) disk += await readFile(join(dir, f), 'latin1').catch(() => '')
    for (const t of [old, usedUp, recent, live]) expect(disk).not.toContain(t.token.slice(21))

    state = new TrackerState(dir)
    await state.open()
    const now = Date.now()
    expect(state.enrollmentTokens.find(live.token)?.campus).toBe('bj-1')
    expect(state.enrollmentTokens.find(`${live.token.slice(0, -1)}x`)).toBeUndefined()
    expect(state.enrollmentTokens.find(old.token)?.id).toBe(old.record.id)
    expect(state.committed.enrollmentTokens.list()).toHaveLength(4)

    // issuing sweeps what stopped enrolling over the retention period ago: the expired one
    // and the used-up one, not the one expired yesterday
    const tx2 = state.tx()
    const next = state.enrollmentTokens.issue(tx2, { expiresAt: now + DAY }, now)
    await tx2.commit({ sync: true })
    expect(ENROLLMENT_TOKEN_RETENTION_MS).toBeLessThan(98 * DAY)
    expect(state.committed.enrollmentTokens.list().map((r) => r.id)).toEqual([
      recent.record.id,
      live.record.id,
      next.record.id,
    ])
    expect(state.enrollmentTokens.find(old.token)).toBeUndefined()

    // bounded: past the most kept, issuing is refused with what to do
    const tx3 = state.tx()
    for (let i = 3; i < MAX_ENROLLMENT_TOKENS; i++)
      state.enrollmentTokens.issue(tx3, { expiresAt: now + DAY }, now)
    expect(() => state.enrollmentTokens.issue(tx3, { expiresAt: now + DAY }, now)).toThrow(/revoke/)
    await state.close()
  })
})
