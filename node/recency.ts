/**
 * When each manifest held here was last used (fetched or played), in wall-clock
 * milliseconds, kept across restarts. A device makes room by evicting the least recently
 * used lessons, and lamps are switched off every evening: an order kept in memory only
 * started afresh at each start, so the lesson played last was as likely to go as any.
 *
 * Advisory, so cheap: written at most every `flushMs` after a change and at stop, as a
 * whole (temporary file, then rename: never half written), without fsync. A power cut
 * loses the last few seconds of order, nothing else.
 */
import { readFile, rename, writeFile } from 'node:fs/promises'
import { logger } from '@libp2p/logger'

const log = logger('dandelion:node:recency')

/** Entries kept at most (the oldest are dropped): far more manifests than any device holds. */
export const MAX_RECENCY_ENTRIES = 100_000

/** Options of {@link Recency}. */
export interface RecencyInit {
  /** The file; none: in memory only. */
  path?: string
  /** @default 5000 */
  flushMs?: number
}

/** Last use by manifest CID; see the module comment. */
export class Recency {
  private readonly path?: string
  private readonly flushMs: number
  /** Last use by key, least recent first (a touch moves a key to the end). */
  private used = new Map<string, number>()
  private timer?: NodeJS.Timeout
  private writing: Promise<void> = Promise.resolve()

  constructor(init: RecencyInit = {}) {
    this.path = init.path
    this.flushMs = init.flushMs ?? 5000
  }

  /** Reads the file; a missing or unreadable one is an empty order (logged), never a failure to start. */
  async load(): Promise<void> {
    if (this.path === undefined) return
    let text: string
    try {
      text = await readFile(this.path, 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
        log.error('reading %s: %s', this.path, (err as Error).message)
      return
    }
    try {
      const entries = Object.entries(JSON.parse(text) as Record<string, unknown>)
        .filter((e): e is [string, number] => typeof e[1] === 'number' && Number.isFinite(e[1]))
        .sort((a, b) => a[1] - b[1])
      this.used = new Map(entries.slice(-MAX_RECENCY_ENTRIES))
    } catch (err) {
      log.error('%s is not an order of use, starting afresh: %s', this.path, (err as Error).message)
    }
  }

  /** When `key` was last used, if ever since its order was kept. */
  get(key: string): number | undefined {
    return this.used.get(key)
  }

  /** Records a use of `key` now. */
  touch(key: string, at = Date.now()): void {
    this.used.delete(key)
    this.used.set(key, at)
    if (this.used.size > MAX_RECENCY_ENTRIES) this.used.delete(this.used.keys().next().value as string)
    this.schedule()
  }

  /** Forgets `key` (its content left this node). */
  forget(key: string): void {
    if (this.used.delete(key)) this.schedule()
  }

  /** Writes what is pending and stops writing. */
  async stop(): Promise<void> {
    if (this.timer !== undefined) {
      clearTimeout(this.timer)
      this.timer = undefined
      this.flush()
    }
    await this.writing
  }

  private schedule(): void {
    if (this.path === undefined || this.timer !== undefined) return
    this.timer = setTimeout(() => {
      this.timer = undefined
      this.flush()
    }, this.flushMs)
    this.timer.unref()
  }

  private flush(): void {
    const path = this.path
    if (path === undefined) return
    const text = JSON.stringify(Object.fromEntries(this.used))
    this.writing = this.writing
      .then(async () => {
        await writeFile(`${path}.tmp`, text)
        await rename(`${path}.tmp`, path)
      })
      .catch((err: Error) => log.error('writing %s: %s', path, err.message))
  }
}
