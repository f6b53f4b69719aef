/**
 * A tracker newer than the node sends a command the node does not know. It used to be
 * refused as a bad frame: the node dropped the connection, the tracker replayed the command
 * at the next one, and every command after it waited for ever. It is now taken (signed, like
 * any), ACKed and reported failed with a reason that says to upgrade the node; the commands
 * after it run.
 */
import { describe, expect, it } from 'vitest'
import type { Command } from '../../../node/agent/protocol.ts'
import { send, signedCmd, welcomeNext } from './fake-tracker.ts'
import { cleanupAfterEach } from './helpers.ts'
import { MemoryContent } from './memory-content.ts'

const { startTracker, startAgent } = cleanupAfterEach()

describe('a command this node does not know', () => {
  it('is ACKed and reported failed with the reason, and the commands after it run, on one connection', async () => {
    const tracker = await startTracker()
    const content = new MemoryContent()
    const agent = await startAgent(content, { trackers: [tracker.url] })
    const ws = await welcomeNext(tracker)
    const future = {
      seq: 1,
      id: 'cmd-future',
      op: 'prefetch-thumbnails',
      resource: 'lesson',
      version: 1,
      manifestCid: 'bafy-v1',
    } as unknown as Command
    const place: Command = {
      seq: 2,
      id: 'cmd-place',
      op: 'place',
      resource: 'lesson',
      version: 1,
      manifestCid: 'bafy-v1',
    }
    send(ws, signedCmd(tracker.signer, agent.peerId, future))
    send(ws, signedCmd(tracker.signer, agent.peerId, place))

    const outcome = (id: string) =>
      tracker.frames.find((f) => f.t === 'outcome' && f.id === id) as
        | { status: string; reason?: string }
        | undefined
    const by = Date.now() + 10_000
    while (outcome('cmd-place')?.status !== 'active' && Date.now() < by)
      await new Promise((r) => setTimeout(r, 20))
    expect(outcome('cmd-place')).toMatchObject({ status: 'active' })
    expect(tracker.frames.filter((f) => f.t === 'ack').map((f) => (f as { id: string }).id)).toEqual([
      'cmd-future',
      'cmd-place',
    ])
    expect(outcome('cmd-future')).toMatchObject({ status: 'failed' })
    expect(outcome('cmd-future')?.reason).toMatch(/does not know the command "prefetch-thumbnails".*upgrade/)
    // one connection throughout: nothing was refused as a bad frame
    expect(tracker.connections).toHaveLength(1)
    expect(content.calls.filter((c) => c.startsWith('fetch'))).toEqual(['fetch bafy-v1'])
  })
})
