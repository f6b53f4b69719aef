/**
 * The operator tokens' repository: what a restart loads, tokens revoked or expired long ago
 * swept as the next is issued so that the list cannot fill up with them, the bound, and the
 * last use written at most once a minute.
 */
import { afterEach, describe, expect, it } from 'vitest'
import {
  MAX_OPERATOR_TOKENS,
  OPERATOR_LAST_USED_RESOLUTION_MS,
  OPERATOR_TOKEN_RETENTION_MS,
} from '../../../tracker/constants.ts'
import { TrackerState } from '../../../tracker/state/index.ts'

const states: TrackerState[] = []
afterEach(async () => {
  for (const s of states.splice(0)) await s.close()
})

const DAY = 24 * 3600 * 1000

describe('operator tokens in the state', () => {
  it('sweep long-ended tokens as the next is issued, within a bound', async () => {
    const state = new TrackerState()
    states.push(state)
    await state.open()
    const ops = state.operatorTokens
    const t0 = Date.now() - 100 * DAY
    const tx = state.tx()
    const revokedLongAgo = ops.issue(tx, { name: 'old', role: 'admin' }, t0)
    ops.revoke(tx, 'old', t0 + DAY)
    const expiredLongAgo = ops.issue(tx, { name: 'temp', role: 'viewer', expiresAt: t0 + DAY }, t0)
    const revokedYesterday = ops.issue(tx, { name: 'bob', role: 'admin' }, t0 + 1)
    ops.revoke(tx, 'bob', Date.now() - DAY)
    const live = ops.issue(tx, { name: 'alice', role: 'admin' }, t0 + 2)
    await tx.commit()
    expect(state.committed.operatorTokens.list()).toHaveLength(4)
    expect(ops.find(revokedLongAgo.token)?.revokedAt).toBe(t0 + DAY)
    expect(ops.find(expiredLongAgo.token)?.name).toBe('temp')

    const now = Date.now()
    const tx2 = state.tx()
    ops.issue(tx2, { name: 'carol', role: 'viewer' }, now)
    await tx2.commit()
    expect(OPERATOR_TOKEN_RETENTION_MS).toBeLessThan(98 * DAY)
    expect(state.committed.operatorTokens.list().map((r) => r.name)).toEqual(['bob', 'alice', 'carol'])
    expect(ops.find(revokedLongAgo.token)).toBeUndefined()
    expect(ops.find(revokedYesterday.token)?.name).toBe('bob')
    expect(ops.find(live.token)?.name).toBe('alice')

    const tx3 = state.tx()
    for (let i = 3; i < MAX_OPERATOR_TOKENS; i++) ops.issue(tx3, { name: `bot-${i}`, role: 'viewer' }, now)
    expect(() => ops.issue(tx3, { name: 'one-more', role: 'viewer' }, now)).toThrow(/revoke/)
  })

  it('write the last use at most once a minute', async () => {
    const state = new TrackerState()
    states.push(state)
    await state.open()
    const tx = state.tx()
    const { record } = state.operatorTokens.issue(tx, { name: 'dash', role: 'viewer' }, 1_000)
    expect(state.operatorTokens.touch(tx, record.id, 2_000)).toBe(true)
    expect(state.operatorTokens.touch(tx, record.id, 2_000 + OPERATOR_LAST_USED_RESOLUTION_MS - 1)).toBe(
      false,
    )
    expect(state.operatorTokens.touch(tx, record.id, 2_000 + OPERATOR_LAST_USED_RESOLUTION_MS)).toBe(true)
    await tx.commit()
    expect(state.committed.operatorTokens.list()[0]?.lastUsedAt).toBe(
      2_000 + OPERATOR_LAST_USED_RESOLUTION_MS,
    )
  })
})
