/**
 * Scrubbing a node's on-disk store: a chunk the disk changed is found by a pass nobody
 * waited on, dropped, and fetched again from a peer, so the lesson is whole again before a
 * class plays it; on the schedule, on request through the local API, and across a restart.
 */
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import type { Manifest } from '../../node/content/index.ts'
import { resolveConfig } from '../../node/daemon/config.ts'
import { fromEnv, fromFlags } from '../../node/daemon/config-sources.ts'
import { runScrubCommand } from '../../node/daemon/scrub-command.ts'
import { statusLines } from '../../node/daemon/status-command.ts'
import type { DandelionNode } from '../../node/index.ts'
import { TRUSTED_ORIGIN } from './utils/cli.ts'
import {
  addContent,
  Harness,
  originKey,
  randomContent,
  readAll,
  TEST_CHUNK_SIZE,
  until,
} from './utils/harness.ts'
import { rot } from './utils/rot.ts'

const h = new Harness()
afterEach(async () => await h.teardown())

/** A seeder holding a 4-chunk lesson, and a campus node with its own on-disk store that fetched it. */
async function lessonOnDisk(
  scrub: { intervalMs: number; bytesPerSecond?: number },
  dataDir?: string,
): Promise<{ seeder: DandelionNode; node: DandelionNode; m: Manifest; bytes: Uint8Array; dataDir: string }> {
  const key = await originKey()
  const seeder = await h.spawn()
  const bytes = randomContent(4 * TEST_CHUNK_SIZE)
  const m = await addContent(seeder.store, bytes, key, { name: 'lesson' })
  await seeder.seed(m)
  const dir = dataDir ?? (await h.tempDir())
  const node = await h.spawn({ dataDir: dir, scrub, playback: { port: 0, apiToken: 'node-api-token' } })
  await h.connect(node, seeder)
  await node.fetch(m.cid)
  return { seeder, node, m, bytes, dataDir: dir }
}

describe('scrubbing the store', () => {
  it('finds a chunk the disk changed, drops it and fetches it again from a peer, without touching the rest', async () => {
    const { node, m, bytes } = await lessonOnDisk({ intervalMs: 0 })
    const fromPeers = node.status().totals.bytesFromPeers
    await rot(node, m.chunks[2])
    await rot(node, m.cid)

    const result = await node.scrub()
    // the lesson's 4 chunks and its manifest were read back; a chunk and the manifest were not what was stored
    expect(result).toMatchObject({ running: false, chunksChecked: 5, corruptFound: 2 })
    await until(
      async () =>
        node.status().swarms[0].complete &&
        (await node.store.has(m.chunks[2])) &&
        (await node.store.has(m.cid)),
    )
    // one chunk came again, from the peer; nothing else was fetched
    expect(node.status().totals.bytesFromPeers).toBe(fromPeers + TEST_CHUNK_SIZE)
    expect(Buffer.from(await readAll(node, m)).equals(Buffer.from(bytes))).toBe(true)
    // a second pass finds the store whole
    expect(await node.scrub()).toMatchObject({ chunksChecked: 5, corruptFound: 0 })
    expect(node.status().scrub?.totals).toEqual({ chunksChecked: 10, corruptFound: 2, readErrors: 0 })
    const metrics = await (await fetch(`${node.playbackUrl}/metrics`)).text()
    expect(metrics).toContain('dandelion_node_scrub_chunks_checked_total 10')
    expect(metrics).toContain('dandelion_node_scrub_corrupt_chunks_total 2')
    expect(metrics).toMatch(/^dandelion_node_scrub_last_pass_end_timestamp_seconds \d{10}/m)
  })

  it('runs on its schedule, keeps it across a restart, and is started by the operator through the local API', async () => {
    const { node, seeder, m, dataDir } = await lessonOnDisk({ intervalMs: 300, bytesPerSecond: 1024 ** 3 })
    await rot(node, m.chunks[0])
    // nobody asks: the scheduled pass finds it and the swarm fetches it again
    await until(() => (node.status().scrub?.totals.corruptFound ?? 0) === 1)
    const found = Date.now()
    await until(async () => await node.store.has(m.chunks[0]))
    // a whole pass after it: the last pass kept is one of the whole lesson
    await until(() => (node.status().scrub?.lastPassEndedAt ?? 0) > found)
    expect(statusLines(node.status())).toContainEqual(
      expect.stringMatching(/^scrub: (running|last pass ended \d{4}-)/),
    )

    // restarted with passes only on request: the last pass's end is still known
    await node.stop()
    const kept = JSON.parse(await readFile(join(dataDir, 'scrub.json'), 'utf8')) as {
      lastPassEndedAt: number
    }
    expect(kept.lastPassEndedAt).toBeLessThanOrEqual(Date.now())
    expect(kept.lastPassEndedAt).toBeGreaterThan(found)
    const again = await h.spawn({
      dataDir,
      scrub: { intervalMs: 0 },
      playback: { port: 0, apiToken: 'node-api-token' },
    })
    await h.connect(again, seeder)
    expect(again.status().scrub).toMatchObject({ running: false, lastPassEndedAt: kept.lastPassEndedAt })
    expect(again.status().scrub?.nextPassAt).toBeUndefined()
    // and what it found: the scheduled pass found the corrupt chunk (or a later one found none)
    expect(again.status().scrub?.corruptFound).toBeLessThanOrEqual(1)
    expect(statusLines(again.status())).toContainEqual(
      expect.stringMatching(
        new RegExp(
          `^scrub: last pass ended ${new Date(kept.lastPassEndedAt).toISOString()} \\(5 chunks checked, [01] corrupt \\(dropped and fetched again\\)\\); next only when asked \\(POST /scrub\\)$`,
        ),
      ),
    )
    await rot(again, m.chunks[3])
    const url = `${again.playbackUrl}/scrub`
    expect((await fetch(url, { method: 'POST' })).status).toBe(401)
    const started = await fetch(url, { method: 'POST', headers: { authorization: 'Bearer node-api-token' } })
    expect(started.status).toBe(202)
    await until(
      () => again.status().scrub?.running === false && again.status().scrub?.corruptFound === 1,
      10_000,
    ).catch((err: Error) => {
      throw new Error(`${err.message}: ${JSON.stringify(again.status().scrub)}`)
    })
    await until(async () => await again.store.has(m.chunks[3]))
  })

  it('is refused with a clear answer on a node without an on-disk store of its own', async () => {
    const node = await h.spawn({ playback: { port: 0 } })
    expect(node.status().scrub).toBeUndefined()
    await expect(node.scrub()).rejects.toMatchObject({ name: 'ScrubUnavailableError' })
    const res = await fetch(`${node.playbackUrl}/scrub`, { method: 'POST' })
    expect(res.status).toBe(409)
    expect(await res.json()).toMatchObject({ error: 'ScrubUnavailableError' })
  })

  it('takes its schedule and rate from the daemon settings, and refuses a rate that would never finish', () => {
    const base = { data: '/tmp/x', trustedOrigins: [TRUSTED_ORIGIN] }
    expect(resolveConfig(base)).toMatchObject({ scrubIntervalHours: 168, scrubRate: 8 * 1024 * 1024 })
    const set = resolveConfig(
      base,
      fromEnv({ DANDELION_SCRUB_INTERVAL_HOURS: '24' }),
      fromFlags({ 'scrub-rate': '2097152' }),
    )
    expect(set).toMatchObject({ scrubIntervalHours: 24, scrubRate: 2097152 })
    expect(() => resolveConfig(base, fromFlags({ 'scrub-rate': '10' }))).toThrow(
      /scrubRate must be >= 65536 \(--scrub-rate, DANDELION_SCRUB_RATE, "scrubRate"\)/,
    )
  })

  it('`dandelion scrub --wait` starts a pass on a running node, follows it and says what it found', async () => {
    const { node, m } = await lessonOnDisk({ intervalMs: 0 })
    await rot(node, m.chunks[1])
    // the token from the data directory's file: a DANDELION_API_TOKEN left blank is unset
    const tokenDir = await h.tempDir()
    await writeFile(join(tokenDir, 'api-token'), 'node-api-token\n')
    const lines: string[] = []
    await runScrubCommand(['--node', node.playbackUrl!, '--wait'], {
      stdout: (l) => lines.push(l),
      env: { DANDELION_API_TOKEN: '', DANDELION_DATA: tokenDir },
    })
    const events = lines.map(
      (l) => JSON.parse(l) as { event: string; chunksChecked: number; corruptFound: number },
    )
    expect(events[0].event).toBe('scrub-started')
    expect(events.at(-1)).toMatchObject({ event: 'scrub-done', chunksChecked: 5, corruptFound: 1 })
    await until(async () => await node.store.has(m.chunks[1]))

    // a node that does not scrub says so, and a missing token is named
    const memory = await h.spawn({ playback: { port: 0 } })
    await expect(
      runScrubCommand(['--node', memory.playbackUrl!], { stdout: () => {}, env: {} }),
    ).rejects.toThrow(
      /^the node refused the scrub: this node does not scrub: only a node with its own on-disk store/,
    )
    await expect(
      runScrubCommand(['--node', node.playbackUrl!], { stdout: () => {}, env: {} }),
    ).rejects.toThrow(/the node needs its API token/)
  })
})
