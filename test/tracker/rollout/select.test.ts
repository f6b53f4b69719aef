import { describe, expect, it } from 'vitest'
import {
  assignStages,
  assignVariants,
  gatePassed,
  matches,
  rolloutOrder,
  stageCounts,
} from '../../../tracker/rollout/select.ts'

const ids = Array.from({ length: 200 }, (_, i) => `node-${i}`)

describe('rollout selection', () => {
  it('matches nodes by city, campus, all labels or explicit id', () => {
    const n = { id: 'n1', city: 'bj', campus: 'bj-1', labels: ['lab', 'gpu'] }
    expect(matches(n, { cities: ['bj'] })).toBe(true)
    expect(matches(n, { campuses: ['sh-1'] })).toBe(false)
    expect(matches(n, { labels: ['lab', 'gpu'] })).toBe(true)
    expect(matches(n, { labels: ['lab', 'x'] })).toBe(false)
    expect(matches(n, { nodes: ['n1'] })).toBe(true)
    expect(matches(n, { cities: ['sh'], nodes: ['n2'] })).toBe(false)
  })

  it('orders nodes deterministically per release and differently across releases', () => {
    expect(rolloutOrder(ids, 'r1')).toEqual(rolloutOrder([...ids].reverse(), 'r1'))
    expect(rolloutOrder(ids, 'r1')).not.toEqual(rolloutOrder(ids, 'r2'))
  })

  it('gives each stage a superset of the previous and at least one node', () => {
    expect(stageCounts(10, [1, 50, 100])).toEqual([1, 5, 10])
    const order = rolloutOrder(ids, 'r1')
    const stages = assignStages(order, [5, 25, 100])
    const inStage = (k: number) => order.filter((id) => stages.get(id)! <= k)
    expect(inStage(0)).toHaveLength(10)
    expect(inStage(1)).toHaveLength(50)
    expect(inStage(2)).toHaveLength(200)
    expect(inStage(1).slice(0, 10)).toEqual(inStage(0))
    // stable: the same release picks the same canaries again (e.g. after a restart)
    expect(assignStages(rolloutOrder(ids, 'r1'), [5, 25, 100])).toEqual(stages)
  })

  it('splits A/B exactly and reproducibly', () => {
    const v = assignVariants(ids, 'r1', 30)
    expect([...v.values()].filter((x) => x === 'B')).toHaveLength(60)
    expect(assignVariants(ids, 'r1', 30)).toEqual(v)
    expect([...assignVariants(ids, 'r1', 0).values()].every((x) => x === 'A')).toBe(true)
  })

  it('passes a gate at the success ratio', () => {
    expect(gatePassed(9, 10, 0.9)).toBe(true)
    expect(gatePassed(8, 10, 0.9)).toBe(false)
    expect(gatePassed(0, 0, 0.5)).toBe(false)
  })
})
