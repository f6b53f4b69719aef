/**
 * Progress on a stalled link: the tracker stops reading while a download reports progress
 * many times. The node holds only the latest report (not every report in its socket
 * buffer), and the tracker gets that latest report once it reads again.
 */
import { describe, expect, it, vi } from 'vitest'
import type { FetchProgress } from '../../../node/agent/index.ts'
import type { Command, NodeFrame } from '../../../node/agent/protocol.ts'
import { received, send, signedCmd, welcomeNext } from './fake-tracker.ts'
import { cleanupAfterEach, until } from './helpers.ts'
import { MemoryContent } from './memory-content.ts'

const contents: ChattyContent[] = []
const { startTracker, startAgent } = cleanupAfterEach({
  // a fetch still waiting for its release would hold the agent's stop
  first: () => {
    vi.restoreAllMocks()
    for (const c of contents.splice(0)) c.release()
  },
})

/** Reports this many progress events as fast as it can, then waits for `release`. */
class ChattyContent extends MemoryContent {
  reported = false
  private released = false
  private resolve = (): void => {}
  /** Lets the fetch end. */
  release(): void {
    this.released = true
    this.resolve()
  }
  private readonly events: number
  constructor(events: number) {
    super()
    this.events = events
  }
  override async fetch(
    cid: string,
    options: { signal?: AbortSignal; onProgress?: (p: FetchProgress) => void },
  ): Promise<unknown> {
    this.calls.push(`fetch ${cid}`)
    // the executor sends at most two reports a second: this download is days long
    let now = Date.now()
    const clock = vi.spyOn(Date, 'now').mockImplementation(() => {
      now += 1_000
      return now
    })
    try {
      for (let i = 1; i <= this.events; i++)
        options.onProgress?.({ peerBytes: i, originBytes: 0, totalBytes: this.events })
    } finally {
      clock.mockRestore()
    }
    this.reported = true
    if (!this.released)
      await new Promise<void>((r) => {
        this.resolve = r
      })
    return { cid }
  }
}

describe('agent progress on a stalled link', () => {
  it('holds only the latest progress while the tracker does not read, and sends it once it does', async () => {
    const tracker = await startTracker()
    const events = 30_000
    const content = new ChattyContent(events)
    contents.push(content)
    const agent = await startAgent(content, { trackers: [tracker.url] })
    const ws = await welcomeNext(tracker)
    // a command id as long as the protocol allows: each report is ~0.5 KB
    const place: Command = {
      seq: 1,
      id: `c-${'x'.repeat(400)}`,
      op: 'place',
      resource: 'lesson',
      version: 1,
      manifestCid: 'bafy-v1',
    }
    send(ws, signedCmd(tracker.signer, agent.peerId, place))
    await received(ws, tracker.frames, 'ack')
    // the tracker stops reading: its kernel buffers fill, then the node's socket buffer
    ws.pause()
    const before = tracker.frames.length
    await until(() => content.reported, 'the reports made')
    // the node's side of the channel: what its socket holds unsent
    const channel = (agent as unknown as { ws: { bufferedAmount: number } }).ws
    // ~15 MB of reports were made; the node holds at most about the high-water mark (16 KiB)
    expect(channel.bufferedAmount).toBeLessThan(64 * 1024)

    ws.resume()
    const isLast = (f: NodeFrame) => f.t === 'progress' && f.peerBytes === events
    await until(() => tracker.frames.some(isLast), 'the latest report reaching the tracker')
    const progress = tracker.frames.slice(before).filter((f) => f.t === 'progress')
    // a few kernel buffers' worth, not 30,000 reports
    expect(progress.length).toBeLessThan(events / 2)
    expect(progress.at(-1)).toMatchObject({ peerBytes: events, percent: 100 })
    content.release()
    await until(() => tracker.frames.some((f) => f.t === 'outcome'), 'the outcome')
    expect(tracker.frames.at(-1)).toMatchObject({ t: 'outcome', status: 'active' })
  })
})
