import { describe, expect, it } from 'vitest'
import { variantFor } from '../../../tracker/rollout/reconcile.ts'
import type { Release, ReleaseNode } from '../../../tracker/state/index.ts'

/** A release with an A/B split of `percent`, and the members given (id → side). */
function view(percent: number, members: Record<string, 'A' | 'B'> = {}) {
  const r = { id: 'rel-1', ab: { version: 2, manifestCid: 'b', percent } } as Release
  const nodes = new Map(
    Object.entries(members).map(([id, variant]) => [id, { nodeId: id, variant } as ReleaseNode]),
  )
  return { r, v: { releases: { nodes: new Map([[r.id, nodes]]), membersOf: () => undefined } } as never }
}

describe('variantFor (the A/B side of a late member)', () => {
  it('gives about `percent` of the nodes side B, the same side every time', () => {
    const { r, v } = view(30)
    const ids = Array.from({ length: 2000 }, (_, i) => `node-${i}`)
    const sides = ids.map((id) => variantFor(v, r, id))
    const b = sides.filter((s) => s === 'B').length
    expect(b).toBeGreaterThan(2000 * 0.25)
    expect(b).toBeLessThan(2000 * 0.35)
    expect(ids.map((id) => variantFor(v, r, id))).toEqual(sides)
  })

  it('gives every node B at 100 %, and a member its own side', () => {
    expect(variantFor(view(100).v, view(100).r, 'x')).toBe('B')
    const { r, v } = view(100, { x: 'A' })
    expect(variantFor(v, r, 'x')).toBe('A')
  })
})
