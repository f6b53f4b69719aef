/**
 * The tracker's backups while it runs (`state/backup.ts`): on request (`POST /api/v1/backups`,
 * `dandelion backup create`) and every `backupIntervalMs` if set; one at a time, the newest
 * `backupKeep` kept.
 */
import { logger } from '@libp2p/logger'
import { DEFAULT_BACKUP_KEEP } from './constants.ts'
import { ConflictError } from './errors.ts'
import { type BackupInfo, listBackups, writeBackup } from './state/backup.ts'
import type { TrackerState } from './state/index.ts'

const log = logger('dandelion:tracker:backup')

/** What {@link Backups} uses. */
export interface BackupsComponents {
  state: TrackerState
  /** The tracker's data directory: backups go to its `backups/`. */
  dataDir: string
  trackerId: string
}

/** Options of {@link Backups}. */
export interface BackupsInit {
  /** Backups kept, newest first. @default {@link DEFAULT_BACKUP_KEEP} */
  keep?: number
  /** Time between two scheduled backups; none when undefined or 0. @default undefined */
  intervalMs?: number
}

/** Takes, schedules and lists the tracker's backups. */
export class Backups {
  private readonly c: BackupsComponents
  private readonly keep: number
  private readonly intervalMs: number
  private running?: Promise<BackupInfo>
  private timer?: ReturnType<typeof setInterval>
  /** When the newest backup kept was taken (epoch ms): read from the disk at start, then each one taken. */
  lastTakenAt?: number
  /** Backups that failed since start (a full disk, a directory not writable). */
  failures = 0

  constructor(components: BackupsComponents, init: BackupsInit = {}) {
    this.c = components
    this.keep = init.keep ?? DEFAULT_BACKUP_KEEP
    this.intervalMs = init.intervalMs ?? 0
  }

  /** Takes a backup now; refused with `ERR_BACKUP_RUNNING` while one is being taken. */
  async take(): Promise<BackupInfo> {
    if (this.running !== undefined)
      throw new ConflictError('a backup is being taken: retry once it is done', 'ERR_BACKUP_RUNNING')
    const { state, dataDir, trackerId } = this.c
    this.running = writeBackup(state.snapshot(), dataDir, { keep: this.keep, trackerId })
    try {
      const info = await this.running
      this.lastTakenAt = info.createdAt
      log('backup %s: %d entries, %d bytes', info.name, info.entries, info.bytes)
      return info
    } catch (err) {
      this.failures++
      throw err
    } finally {
      this.running = undefined
    }
  }

  /** The backups kept, oldest first. */
  list(): Promise<BackupInfo[]> {
    return listBackups(this.c.dataDir)
  }

  /** Reads when the newest backup kept was taken, and starts the scheduled backups, if an interval is set. */
  start(): void {
    this.list().then(
      (kept) => {
        this.lastTakenAt ??= kept.at(-1)?.createdAt
      },
      (err) => log.error('listing the backups failed: %e', err),
    )
    if (this.intervalMs <= 0 || this.timer !== undefined) return
    this.timer = setInterval(() => {
      // one still being taken (a slow disk, or one asked for): this turn is skipped
      if (this.running !== undefined) return
      this.take().catch((err) => log.error('scheduled backup failed: %e', err))
    }, this.intervalMs)
    this.timer.unref()
  }

  /** Stops the schedule and waits for a backup being taken. */
  async stop(): Promise<void> {
    clearInterval(this.timer)
    this.timer = undefined
    await this.running?.catch(() => {})
  }
}
