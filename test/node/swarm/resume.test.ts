import { type ChildProcess, spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import { addContent, Harness, originKey, randomContent } from '../utils/harness.ts'

const childScript = fileURLToPath(new URL('../utils/child-fetch.ts', import.meta.url))

interface Line {
  event: 'progress' | 'done' | 'fetching'
  chunksDone?: number
  bytesFromPeers: number
  pins?: string[]
}

function startChild(
  env: object,
  onLine: (l: Line) => void,
): { child: ChildProcess; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [childScript], {
    env: { ...process.env, DANDELION_TEST_CHILD: JSON.stringify(env) },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  createInterface({ input: child.stdout! }).on('line', (line) => {
    if (line.startsWith('{')) onLine(JSON.parse(line) as Line)
  })
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  return { child, exited }
}

describe('resume after a crash', () => {
  const h = new Harness()
  const children: ChildProcess[] = []
  afterEach(async () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL')
    await h.teardown()
  })

  /** A seeder with 4 MiB, and a child node SIGKILLed once it has stored `atLeast` chunks. */
  async function killMidDownload(atLeast: number) {
    const key = await originKey()
    const bytes = randomContent(4 * 1024 * 1024)
    const seeder = await h.spawn()
    const manifest = await addContent(seeder.store, bytes, key)
    await seeder.seed(manifest)
    const env = {
      dataDir: await h.tempDir(),
      bootstrap: [seeder.multiaddrs[0].toString()],
      manifestCid: manifest.cid.toString(),
      downloadBytesPerSecond: 1024 * 1024,
    }
    let reported = 0
    const first = startChild(env, (l) => {
      if (l.event === 'progress') reported = Math.max(reported, l.chunksDone ?? 0)
    })
    children.push(first.child)
    await waitFor(() => reported >= atLeast)
    first.child.kill('SIGKILL')
    await first.exited
    expect(reported).toBeLessThan(manifest.chunks.length)
    /** Starts the node again, unthrottled; resolves with its lines once it has exited. */
    const restart = async (extra: object = {}): Promise<Line[]> => {
      const lines: Line[] = []
      const again = startChild({ ...env, downloadBytesPerSecond: undefined, ...extra }, (l) => lines.push(l))
      children.push(again.child)
      expect(await again.exited).toBe(0)
      return lines
    }
    return { bytes, manifest, dataDir: env.dataDir, reported, restart }
  }

  it('a node SIGKILLed mid-download completes after restart without refetching verified chunks', async () => {
    const { bytes, manifest, reported, restart } = await killMidDownload(4)
    // second run: starts from what the store kept, fetches only the rest
    const lines = await restart()
    const start = lines.find((l) => l.event === 'progress')!
    const done = lines.find((l) => l.event === 'done')!
    expect(start.chunksDone).toBeGreaterThanOrEqual(reported)
    expect(done.bytesFromPeers).toBe(bytes.byteLength - start.chunksDone! * manifest.chunkSize)
    expect(lines.filter((l) => l.event === 'progress').at(-1)!.chunksDone).toBe(manifest.chunks.length)
  })

  it('a node killed mid-download carries on by itself when it starts again, and forgets it once done', async () => {
    const { bytes, manifest, dataDir, restart } = await killMidDownload(2)
    // nobody asks again: the restarted node resumes what it had not finished
    const lines = await restart({ resumeOnly: true })
    expect(lines.filter((l) => l.event === 'progress').at(-1)!.chunksDone).toBe(manifest.chunks.length)

    // a third start finds nothing left to resume: the download was forgotten when it completed
    const node = await h.spawn({ dataDir })
    expect(node.store.pins().filter((p) => p.startsWith('want:'))).toEqual([])
    const out: Uint8Array[] = []
    for await (const piece of node.read(manifest.cid, 0, bytes.byteLength - 1)) out.push(piece)
    expect(Buffer.concat(out).equals(bytes)).toBe(true)
  })
})

describe('resume after a crash during the manifest lookup', () => {
  const h = new Harness()
  const children: ChildProcess[] = []
  afterEach(async () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL')
    await h.teardown()
  })

  it('a node killed while it still looks for the manifest fetches the content when it starts again', async () => {
    const key = await originKey()
    const bytes = randomContent(2 * 1024 * 1024)
    // the seeder has the content but does not offer it yet: the child's lookup finds nothing
    const seeder = await h.spawn()
    const manifest = await addContent(seeder.store, bytes, key)
    const env = {
      dataDir: await h.tempDir(),
      bootstrap: [seeder.multiaddrs[0].toString()],
      manifestCid: manifest.cid.toString(),
    }
    let fetching: Line | undefined
    const first = startChild(env, (l) => {
      if (l.event === 'fetching') fetching = l
    })
    children.push(first.child)
    await waitFor(() => fetching !== undefined)
    first.child.kill('SIGKILL')
    await first.exited
    // what `POST /fetch` acknowledged is on disk before the manifest is found
    expect(fetching!.pins).toContain(`want:${manifest.cid.toString()}`)

    await seeder.seed(manifest)
    const lines: Line[] = []
    const again = startChild({ ...env, resumeOnly: true }, (l) => lines.push(l))
    children.push(again.child)
    expect(await again.exited).toBe(0)
    expect(lines.filter((l) => l.event === 'progress').at(-1)!.chunksDone).toBe(manifest.chunks.length)
  })
})

async function waitFor(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((r) => setTimeout(r, 20))
}
