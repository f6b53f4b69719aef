/**
 * The tracker's `scrub` command at the agent: a command about the node as a whole, without
 * resource fields. It runs beside the other commands (a pass can take hours: a `place` sent
 * after it is not held up), reports `done` with what the pass found, and a copy sent again
 * while it runs (a reconnect's replay) is ACKed without a second pass. A node that does not
 * scrub reports it `failed` with why.
 */
import { describe, expect, it } from 'vitest'
import { isResourceCommand, parseCommand } from '../../../node/agent/index.ts'
import type { Command, NodeFrame, ScrubFindings } from '../../../node/agent/protocol.ts'
import { handshake, send, signedCmd, welcomeNext } from './fake-tracker.ts'
import { cleanupAfterEach, until } from './helpers.ts'
import { MemoryContent } from './memory-content.ts'

const { startTracker, startAgent, tempDir } = cleanupAfterEach()

/** Memory content whose scrub passes wait for the test to end them. */
class ScrubbingContent extends MemoryContent {
  passes = 0
  private end?: (f: ScrubFindings) => void
  async scrub(): Promise<ScrubFindings> {
    this.passes++
    this.calls.push('scrub')
    return await new Promise<ScrubFindings>((resolve) => {
      this.end = resolve
    })
  }
  finish(f: ScrubFindings): void {
    this.end?.(f)
  }
}

const scrub: Command = { seq: 1, id: 'cmd-scrub', op: 'scrub' }
const place: Command = {
  seq: 2,
  id: 'cmd-place',
  op: 'place',
  resource: 'lesson',
  version: 1,
  manifestCid: 'bafy-v1',
}

type Outcome = Extract<NodeFrame, { t: 'outcome' }>
const outcomes = (frames: NodeFrame[], id: string): Outcome[] =>
  frames.filter((f): f is Outcome => f.t === 'outcome' && f.id === id)

describe('a scrub command', () => {
  it('has no resource fields, and an op about a resource still needs them', () => {
    expect(parseCommand(scrub)).toEqual(scrub)
    expect(isResourceCommand(scrub)).toBe(false)
    // a newer tracker's op about the node: taken (to be reported failed), not refused
    expect(parseCommand({ seq: 3, id: 'x', op: 'reboot' })).toBeDefined()
    const { resource: _, ...bare } = place
    expect(parseCommand(bare)).toBeUndefined()
    // present, the resource fields are checked
    expect(parseCommand({ ...scrub, resource: 'lesson' })).toBeUndefined()
  })

  it('runs beside a place sent after it, once across a reconnect, and reports what it found', async () => {
    const tracker = await startTracker()
    const content = new ScrubbingContent()
    const agent = await startAgent(content, {
      trackers: [tracker.url],
      dir: await tempDir('scrub-cmd-'),
      reconnectInitialMs: 20,
    })
    const ws = await tracker.next()
    const hello = await handshake(ws, tracker)
    expect(hello.features).toContain('node-commands')
    send(ws, signedCmd(tracker.signer, agent.peerId, scrub))
    send(ws, signedCmd(tracker.signer, agent.peerId, place))
    // the lesson is active while the pass still runs
    await until(
      () => outcomes(tracker.frames, 'cmd-place').some((o) => o.status === 'active'),
      'place active',
    )
    expect(content.passes).toBe(1)
    expect(outcomes(tracker.frames, 'cmd-scrub')).toEqual([])

    // the connection drops mid-pass; the tracker replays the scrub on the next one
    ws.terminate()
    const again = await welcomeNext(tracker)
    const acks = () => tracker.frames.filter((f) => f.t === 'ack' && f.id === 'cmd-scrub').length
    send(again, signedCmd(tracker.signer, agent.peerId, scrub))
    await until(() => acks() === 2, 'the replayed scrub ACKed')

    content.finish({ chunksChecked: 120, corruptFound: 1, readErrors: 0 })
    await until(() => outcomes(tracker.frames, 'cmd-scrub').length > 0, 'scrub outcome')
    expect(outcomes(tracker.frames, 'cmd-scrub')).toEqual([
      {
        t: 'outcome',
        id: 'cmd-scrub',
        status: 'done',
        reason: 'scrub pass: 120 chunks checked, 1 corrupt (dropped, fetched again), 0 unreadable',
        scrub: { chunksChecked: 120, corruptFound: 1, readErrors: 0 },
      },
    ])
    // one pass for the command, however often it came
    expect(content.passes).toBe(1)
    // sent once more, the command is answered from the journal, with its findings
    send(again, signedCmd(tracker.signer, agent.peerId, scrub))
    await until(() => outcomes(tracker.frames, 'cmd-scrub').length === 2, 'outcome sent again')
    expect(outcomes(tracker.frames, 'cmd-scrub')[1].scrub).toEqual({
      chunksChecked: 120,
      corruptFound: 1,
      readErrors: 0,
    })
    expect(content.passes).toBe(1)
  })

  it('fails with the reason on a node that does not scrub', async () => {
    const tracker = await startTracker()
    const agent = await startAgent(new MemoryContent(), { trackers: [tracker.url] })
    const ws = await welcomeNext(tracker)
    send(ws, signedCmd(tracker.signer, agent.peerId, scrub))
    await until(() => outcomes(tracker.frames, 'cmd-scrub').length > 0, 'scrub outcome')
    expect(outcomes(tracker.frames, 'cmd-scrub')[0]).toMatchObject({
      status: 'failed',
      reason: expect.stringMatching(/does not scrub/),
    })
    expect(tracker.connections).toHaveLength(1)
  })
})
