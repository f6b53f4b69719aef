/** Placeholder replaced below. */
import type { DandelionNodeImpl } from '../node.ts'

export interface PlaybackServer {
  url: string
  close(): Promise<void>
}

export async function startPlayback(
  _node: DandelionNodeImpl,
  _init: { host?: string; port?: number },
): Promise<PlaybackServer> {
  throw new Error('not yet')
}
