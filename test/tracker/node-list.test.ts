/**
 * `GET /nodes` in pages: before, one answer of at most 10,000 nodes and no way to the rest,
 * so a city with more could not be listed in full. Pages follow a cursor in node id order,
 * so nodes joining or leaving between two pages shift nothing.
 */
import { afterEach, describe, expect, it } from 'vitest'
import type { Tracker } from '../../tracker/index.ts'
import { Harness } from './harness.ts'
import { http } from './wire.ts'

const h = new Harness()
afterEach(() => h.teardown())

interface NodePage {
  nodes: Array<{ id: string; labels: string[] }>
  next?: string
}

async function page(t: Tracker, query: string): Promise<NodePage> {
  const res = await http(t, 'GET', `/nodes?${query}`)
  expect(res.status, JSON.stringify(res.body)).toBe(200)
  return res.body
}

async function addNodes(t: Tracker, ids: string[]): Promise<void> {
  for (const id of ids) await h.api(t, 'POST', '/nodes', { id, campus: 'bj-1' })
}

describe('GET /nodes in pages', () => {
  it('lists more nodes than a page holds, each exactly once, in id order, following next', async () => {
    const t = await h.tracker()
    await h.seed(t)
    const ids = Array.from({ length: 23 }, (_, i) => `n${String(i).padStart(2, '0')}`)
    // created out of order: the listing's order is the ids', not the order they came in
    await addNodes(t, [...ids].reverse())

    const pages: NodePage[] = [await page(t, 'limit=5')]
    while (pages.at(-1)!.next !== undefined)
      pages.push(await page(t, `limit=5&cursor=${encodeURIComponent(pages.at(-1)!.next!)}`))

    expect(pages.map((p) => p.nodes.length)).toEqual([5, 5, 5, 5, 3])
    expect(pages.flatMap((p) => p.nodes.map((n) => n.id))).toEqual(ids)
    // a page that ends exactly at the last node says so: no empty page to fetch after it
    const lastFull = await page(t, `limit=3&cursor=${encodeURIComponent(pages[3].next!)}`)
    expect(lastFull.nodes.map((n) => n.id)).toEqual(['n20', 'n21', 'n22'])
    expect(lastFull.next).toBeUndefined()
    // the default page holds them all
    const all = await page(t, '')
    expect(all.nodes).toHaveLength(23)
    expect(all.next).toBeUndefined()
  })

  it('lists every node present throughout exactly once while others join, leave or change between pages', async () => {
    const t = await h.tracker()
    await h.seed(t)
    const ids = Array.from({ length: 20 }, (_, i) => `a${String(i).padStart(2, '0')}`)
    await addNodes(t, ids)

    const first = await page(t, 'limit=6')
    expect(first.nodes.map((n) => n.id)).toEqual(ids.slice(0, 6))
    // between two pages: one joins before the cursor, one after; one already listed and one
    // not yet listed leave; one not yet listed changes
    await addNodes(t, ['a02x', 'a15x'])
    await h.api(t, 'DELETE', '/nodes/a01')
    await h.api(t, 'DELETE', '/nodes/a10')
    await h.api(t, 'PATCH', '/nodes/a12', { labels: ['moved'] })

    const seen = [...first.nodes]
    let next = first.next
    while (next !== undefined) {
      const p = await page(t, `limit=6&cursor=${encodeURIComponent(next)}`)
      seen.push(...p.nodes)
      next = p.next
      // and another joins after the cursor while paging goes on
      if (seen.length === 12) await addNodes(t, ['a19x'])
    }

    const listed = seen.map((n) => n.id)
    expect(new Set(listed).size).toBe(listed.length) // nothing twice
    for (const id of ids.filter((id) => id !== 'a10')) expect(listed).toContain(id) // nothing skipped
    // joined after the page being read: listed; before it, or deleted before its turn: not
    expect(listed).toContain('a15x')
    expect(listed).toContain('a19x')
    expect(listed).not.toContain('a02x')
    expect(listed).not.toContain('a10')
    expect(seen.find((n) => n.id === 'a12')?.labels).toEqual(['moved'])
    expect(listed).toEqual([...listed].sort())
  })

  it('refuses a cursor it did not make with 400 ERR_INVALID_CURSOR', async () => {
    const t = await h.tracker()
    await h.seed(t)
    await addNodes(t, ['n0', 'n1', 'n2'])
    const { next } = await page(t, 'limit=1')
    expect(next).toBeDefined()
    const b64 = (s: string): string => Buffer.from(s).toString('base64url')
    for (const cursor of [
      'garbage!',
      '',
      next!.slice(0, -2), // truncated
      `${next}AA`,
      b64('not json'),
      b64('{"after":5}'),
      b64('{"after":"has space"}'),
      b64('["n0"]'),
      'A'.repeat(2000),
    ]) {
      const res = await http(t, 'GET', `/nodes?limit=1&cursor=${encodeURIComponent(cursor)}`)
      expect(res.status, cursor).toBe(400)
      expect(res.body.error.code, cursor).toBe('ERR_INVALID_CURSOR')
      expect(res.body.error.message).toMatch(/cursor/)
    }
    // the page size is still checked as before
    for (const limit of ['0', '10001', 'abc']) {
      const res = await http(t, 'GET', `/nodes?limit=${limit}&cursor=${encodeURIComponent(next!)}`)
      expect(res.status).toBe(400)
      expect(res.body.error.code).toBe('ERR_VALIDATION')
    }
    // the cursor it made still works
    expect((await page(t, `limit=5&cursor=${encodeURIComponent(next!)}`)).nodes.map((n) => n.id)).toEqual([
      'n1',
      'n2',
    ])
  })
})

describe('GET /releases/:id/nodes in pages', () => {
  it('lists every node of a release once, in id order, following next, with or without a state', async () => {
    const t = await h.tracker()
    await h.seed(t)
    const ids = Array.from({ length: 11 }, (_, i) => `r${String(i).padStart(2, '0')}`)
    await addNodes(t, [...ids].reverse())
    const rel = await h.api(t, 'POST', '/releases', {
      resource: 'lesson',
      version: 1,
      targets: { campuses: ['bj-1'] },
    })

    const listed = async (query: string): Promise<{ sizes: number[]; ids: string[] }> => {
      const sizes: number[] = []
      const seen: string[] = []
      let cursor: string | undefined
      do {
        const after = cursor === undefined ? '' : `&cursor=${encodeURIComponent(cursor)}`
        const res = await http(t, 'GET', `/releases/${rel.id}/nodes?${query}${after}`)
        expect(res.status, JSON.stringify(res.body)).toBe(200)
        sizes.push(res.body.nodes.length)
        seen.push(...res.body.nodes.map((n: { nodeId: string }) => n.nodeId))
        cursor = res.body.next
      } while (cursor !== undefined)
      return { sizes, ids: seen }
    }
    const all = await listed('limit=4')
    expect(all.sizes).toEqual([4, 4, 3])
    expect(all.ids).toEqual(ids)
    // offline nodes: every command waits, unACKed
    const pending = await listed('limit=5&state=pending')
    expect(pending.ids).toEqual(ids)
    expect((await listed('limit=5&state=active')).ids).toEqual([])
    expect((await http(t, 'GET', `/releases/${rel.id}/nodes?cursor=nope`)).body.error.code).toBe(
      'ERR_INVALID_CURSOR',
    )
  })
})
