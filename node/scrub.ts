/**
 * Scrubbing: every chunk an on-disk store holds is read back and hashed on a schedule, so
 * bytes the disk changed (bit rot, a failing sector, a lamp's SD card wearing out) are
 * found while nobody needs them. A corrupt chunk is dropped and marked missing in every
 * swarm that holds it (`Swarm.lost`), which fetches it again from peers (or the origin) at
 * once. Without it, a lesson nobody had played for weeks met its corrupt chunk in class:
 * dropped then, and fetched again while the class waited, over the WAN when the campus
 * node was the only copy on campus.
 *
 * A pass reads at most `bytesPerSecond` and does not make what it reads recently used. Its
 * end is kept in `file`, so the schedule survives restarts; a pass a stop interrupts starts
 * again from the beginning at the next start.
 */
import { readFile, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Logger } from '@libp2p/interface'
import { logger } from '@libp2p/logger'
import { NotStartedError } from './errors.ts'
import type { DandelionNodeInit } from './index.ts'
import { SCRUB_BYTES_PER_SECOND, SCRUB_INTERVAL_MS } from './node-constants.ts'
import { type ChunkStore, FsChunkStore } from './store/index.ts'
import type { Swarm } from './swarm/swarm.ts'

/** Options of {@link Scrubber}. */
export interface ScrubInit {
  /** Time between the end of a pass and the start of the next; 0: only when asked ({@link Scrubber.runNow}). */
  intervalMs: number
  /** Bytes read per second at most. */
  bytesPerSecond: number
  /** Where the last pass's end is kept. @default memory only */
  file?: string
  /** Told of each corrupt chunk a pass finds (the daemons print a line the operator sees). */
  onCorrupt?: (chunk: string) => void
}

/** What {@link Scrubber.status} reports. */
export interface ScrubStatus {
  /** A pass runs now. */
  running: boolean
  /** Chunks checked by the pass that runs, or the last one. */
  chunksChecked: number
  /** Corrupt chunks the pass that runs (or the last one) found, dropped and had fetched again. */
  corruptFound: number
  /** Chunks the pass that runs (or the last one) could not read at all (an I/O error): kept. */
  readErrors: number
  /** When the last whole pass ended (ms since the epoch). */
  lastPassEndedAt?: number
  /** When the next pass starts, when one is scheduled. */
  nextPassAt?: number
  /** Chunks checked, and corrupt ones found, by every pass since the node started (metrics). */
  totals: { chunksChecked: number; corruptFound: number; readErrors: number }
}

/** What the parts a scrub needs look like. */
export interface ScrubComponents {
  store: ChunkStore
  /** The swarms this node is in: the ones holding a corrupt chunk mark it missing. */
  swarms(): Iterable<Swarm>
  /** Fetches what is missing of the content `manifestCid` (a seeding swarm fetches nothing by itself). */
  fetchAgain(manifestCid: string): void
  log: Logger
}

/** What `file` keeps: when the last whole pass ended, and what it found. */
interface Kept {
  lastPassEndedAt: number
  found?: { chunksChecked: number; corruptFound: number; readErrors: number }
}

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0

/** Runs scrub passes on a schedule or when asked (see the module comment). */
export class Scrubber {
  private readonly c: ScrubComponents
  private readonly init: ScrubInit
  private controller?: AbortController
  private timer?: NodeJS.Timeout
  private pass?: Promise<ScrubStatus>
  private current = { chunksChecked: 0, corruptFound: 0, readErrors: 0 }
  private readonly totals = { chunksChecked: 0, corruptFound: 0, readErrors: 0 }
  private lastPassEndedAt?: number
  private nextPassAt?: number

  constructor(components: ScrubComponents, init: ScrubInit) {
    this.c = components
    this.init = init
  }

  async start(): Promise<void> {
    this.controller = new AbortController()
    const kept = await this.load()
    // a node's first start counts as a pass: its content is as fresh as it gets
    this.lastPassEndedAt = kept?.lastPassEndedAt ?? Date.now()
    if (kept?.found !== undefined) this.current = { ...kept.found }
    if (kept === undefined) await this.save()
    this.schedule()
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer)
    this.timer = undefined
    this.nextPassAt = undefined
    this.controller?.abort()
    await this.pass?.catch(() => {})
  }

  status(): ScrubStatus {
    return {
      running: this.pass !== undefined,
      ...this.current,
      totals: { ...this.totals },
      ...(this.lastPassEndedAt === undefined ? {} : { lastPassEndedAt: this.lastPassEndedAt }),
      ...(this.nextPassAt === undefined ? {} : { nextPassAt: this.nextPassAt }),
    }
  }

  /** Starts a pass now (or joins the one that runs) and resolves with its result. */
  async runNow(): Promise<ScrubStatus> {
    const signal = this.controller?.signal
    if (signal === undefined || signal.aborted) throw new NotStartedError('the scrubber')
    if (this.pass === undefined) {
      clearTimeout(this.timer)
      this.nextPassAt = undefined
      this.pass = this.run(signal).finally(() => {
        this.pass = undefined
        if (!signal.aborted) this.schedule()
      })
    }
    return await this.pass
  }

  private schedule(): void {
    if (this.init.intervalMs <= 0 || this.controller?.signal.aborted !== false) return
    const at = (this.lastPassEndedAt ?? Date.now()) + this.init.intervalMs
    this.nextPassAt = at
    // setTimeout holds at most ~24.8 days: a longer wait re-arms itself
    const wait = Math.min(Math.max(0, at - Date.now()), 2 ** 31 - 1)
    this.timer = setTimeout(() => {
      if (Date.now() < at) return this.schedule()
      this.runNow().catch((err: Error) => {
        // a stop ends a pass midway: the next start begins it again
        if (this.controller?.signal.aborted !== true) this.c.log.error('scrub pass failed: %e', err)
      })
    }, wait)
    this.timer.unref()
  }

  private async run(signal: AbortSignal): Promise<ScrubStatus> {
    const { store } = this.c
    this.current = { chunksChecked: 0, corruptFound: 0, readErrors: 0 }
    if (store.verify === undefined) return { ...this.status(), running: false }
    // a monotonic clock: a wall clock set back (a lamp's, at its first NTP sync) would stall the pass
    const started = performance.now()
    let bytes = 0
    for await (const cid of store.list({ signal })) {
      let checked: Awaited<ReturnType<NonNullable<ChunkStore['verify']>>>
      try {
        checked = await store.verify(cid, { signal })
      } catch (err) {
        if (signal.aborted) throw err
        // a sector that cannot be read (EIO) must not end every pass at the same chunk: counted,
        // said, and the pass goes on; the chunk is kept, since the error may pass
        this.current.readErrors++
        this.totals.readErrors++
        this.c.log.error('scrub: chunk %s could not be read: %e', cid, err)
        continue
      }
      const { state, bytes: size } = checked
      if (state === 'missing') continue
      this.current.chunksChecked++
      this.totals.chunksChecked++
      if (state === 'corrupt') {
        this.current.corruptFound++
        this.totals.corruptFound++
        this.c.log.error('scrub: chunk %s was corrupt on disk: dropped, fetched again', cid)
        try {
          this.init.onCorrupt?.(cid.toString())
        } catch (err) {
          this.c.log.error('a scrub listener threw: %e', err)
        }
        this.refetch(cid.toString())
      }
      bytes += size
      // paced: no faster than bytesPerSecond on average since the pass began
      const ahead = (bytes / this.init.bytesPerSecond) * 1000 - (performance.now() - started)
      if (ahead > 0) await sleep(ahead, undefined, { signal })
    }
    this.lastPassEndedAt = Date.now()
    await this.save()
    this.c.log(
      'scrub pass done: %d chunks, %d corrupt',
      this.current.chunksChecked,
      this.current.corruptFound,
    )
    return { ...this.status(), running: false }
  }

  /** Every swarm holding chunk `key` (or whose manifest it is) marks it missing, and fetches it again. */
  private refetch(key: string): void {
    const holders: string[] = []
    for (const s of this.c.swarms()) {
      const chunks = s.manifest?.chunks ?? []
      // a swarm's own manifest block: fetching the content again stores it again
      let held = s.key === key
      for (let i = 0; i < chunks.length; i++)
        if (chunks[i].toString() === key) {
          s.lost(i)
          held = true
        }
      if (held) holders.push(s.key)
    }
    for (const cid of holders) this.c.fetchAgain(cid)
  }

  private async load(): Promise<Kept | undefined> {
    if (this.init.file === undefined) return undefined
    try {
      // verify before trust: a hand-edited or damaged file is dropped, or its counts are
      const kept = JSON.parse(await readFile(this.init.file, 'utf8')) as Partial<Kept>
      if (!isCount(kept.lastPassEndedAt)) return undefined
      const f = kept.found
      const found =
        f !== undefined && isCount(f.chunksChecked) && isCount(f.corruptFound) && isCount(f.readErrors)
          ? { chunksChecked: f.chunksChecked, corruptFound: f.corruptFound, readErrors: f.readErrors }
          : undefined
      return { lastPassEndedAt: kept.lastPassEndedAt, ...(found === undefined ? {} : { found }) }
    } catch {
      // none yet, or unreadable: the schedule starts again from now
      return undefined
    }
  }

  private async save(): Promise<void> {
    if (this.init.file === undefined || this.lastPassEndedAt === undefined) return
    const tmp = `${this.init.file}.tmp`
    try {
      const kept: Kept = { lastPassEndedAt: this.lastPassEndedAt, found: { ...this.current } }
      await writeFile(tmp, JSON.stringify(kept))
      await rename(tmp, this.init.file)
    } catch (err) {
      this.c.log.error('scrub: cannot keep the last pass in %s: %e', this.init.file, err)
    }
  }
}

/**
 * The scrubber of a node, for an on-disk store (a store in memory does not rot): its own, in
 * its data directory, unless `init.scrub` is `false`; one it was given (the origin's) only
 * when its owner asks, naming the file the schedule is kept in (`init.scrub.file`).
 */
export function nodeScrubber(
  init: DandelionNodeInit,
  parts: Omit<ScrubComponents, 'log'> & { ownsStore: boolean },
): Scrubber | undefined {
  const { store, ownsStore } = parts
  if (init.scrub === false || !(store instanceof FsChunkStore)) return undefined
  const file =
    init.scrub?.file ??
    (ownsStore && init.dataDir !== undefined ? join(init.dataDir, 'scrub.json') : undefined)
  if (file === undefined) return undefined
  return new Scrubber(
    { store, swarms: parts.swarms, fetchAgain: parts.fetchAgain, log: logger('dandelion:node:scrub') },
    {
      intervalMs: init.scrub?.intervalMs ?? SCRUB_INTERVAL_MS,
      bytesPerSecond: init.scrub?.bytesPerSecond ?? SCRUB_BYTES_PER_SECOND,
      file,
      onCorrupt: init.scrub?.onCorrupt,
    },
  )
}
