/**
 * What an upload's state, `<dir>/<id>.json`, holds, and what follows from it: the offset a
 * client resumes from, whether every byte arrived, whether its chunks hold the whole file.
 */

/** State of one upload, as this origin reads it (see {@link StoredUploadState} for disk). */
export interface UploadState {
  id: string
  size?: number
  metadata?: Record<string, string | null>
  creation_date?: string
  /** When a write last stored something (ISO date); expiry counts from it. */
  activity_date?: string
  /** CIDs of the chunks stored so far, in file order. */
  chunks: string[]
  /** Bytes of the tail file `<id>.<chunks.length>.part` that belong to the upload. */
  partLength: number
  /**
   * Bytes per chunk of this upload, as the origin was configured when it was created: a
   * restart with another chunk size must not change where its bytes go.
   */
  chunkSize: number
  /** Made with an upload grant: published as a private version. Absent in older states: public. */
  private?: true
}

/**
 * An upload's state as found on disk. States written before each upload recorded its chunk
 * size have none (see `legacy-chunk-size.ts`); every state written since has one.
 */
export type StoredUploadState = Omit<UploadState, 'chunkSize'> & { chunkSize?: number }

/** Bytes of the upload received and kept: where its client resumes. */
export function offsetOf(state: UploadState): number {
  const full = state.chunks.length * state.chunkSize
  // the last chunk of a complete upload may be short
  return state.size !== undefined && full >= state.size && state.partLength === 0
    ? state.size
    : full + state.partLength
}

/** Whether every byte of the upload arrived. */
export function isComplete(state: UploadState): boolean {
  return state.size !== undefined && offsetOf(state) === state.size
}

/**
 * Whether the upload's stored chunks are the whole file, as a manifest lists them: every
 * one whole but the last, none past the end, no byte left in the tail file.
 */
export function holdsWholeFile(state: UploadState): boolean {
  const n = state.chunks.length
  if (state.size === undefined || state.partLength !== 0) return false
  if (state.size === 0) return n === 0
  return (n - 1) * state.chunkSize < state.size && state.size <= n * state.chunkSize
}

/** When an upload last made progress: states written before `activity_date` have only their creation. */
export function lastActivity(state: StoredUploadState): string | undefined {
  return state.activity_date ?? state.creation_date
}

/** The current time, as states record it. */
export const now = (): string => new Date().toISOString()
