/**
 * Active speaker from the ssrc-audio-level header extension (RFC 6464: one byte, V flag in the
 * top bit, level in -dBov 0..127 where 0 is loudest). Levels are averaged per publisher; at each
 * evaluation the loudest one under the threshold wins.
 */
import { SPEAKER_THRESHOLD_DBOV } from '../constants.ts'

const SILENT = 127

interface Level {
  avg: number
  updated: boolean
}

/** Speaker detection for every room of one SFU. */
export class SpeakerDetector {
  private readonly rooms = new Map<string, Map<string, Level>>()
  private readonly current = new Map<string, string | null>()
  private readonly threshold: number

  constructor(init: { thresholdDbov?: number } = {}) {
    this.threshold = init.thresholdDbov ?? SPEAKER_THRESHOLD_DBOV
  }

  /** Records one audio packet's level byte of `user` in `room`. */
  level(room: string, user: string, byte: number): void {
    let users = this.rooms.get(room)
    if (users === undefined) {
      users = new Map()
      this.rooms.set(room, users)
    }
    const dbov = byte & 0x7f
    const l = users.get(user)
    if (l === undefined) users.set(user, { avg: dbov, updated: true })
    else {
      l.avg = l.avg * 0.8 + dbov * 0.2
      l.updated = true
    }
  }

  /** Forgets `user` (stopped publishing). */
  remove(room: string, user: string): void {
    this.rooms.get(room)?.delete(user)
  }

  /** Re-evaluates every room; returns the rooms whose speaker changed. */
  evaluate(): Array<{ room: string; user: string | null }> {
    const changes: Array<{ room: string; user: string | null }> = []
    for (const [room, users] of this.rooms) {
      let best: string | null = null
      let bestLevel = SILENT
      for (const [user, l] of users) {
        if (!l.updated) l.avg = SILENT // no packets since last time: silent
        l.updated = false
        if (l.avg < this.threshold && l.avg < bestLevel) {
          best = user
          bestLevel = l.avg
        }
      }
      if ((this.current.get(room) ?? null) !== best) {
        this.current.set(room, best)
        changes.push({ room, user: best })
      }
      if (users.size === 0) {
        // the change to nobody was reported above; a room heard of again starts from nobody
        this.rooms.delete(room)
        this.current.delete(room)
      }
    }
    return changes
  }
}
