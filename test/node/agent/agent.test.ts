import { describe, expect, it } from 'vitest'
import type { Command } from '../../../node/agent/protocol.ts'
import { received, send, signedCmd } from './fake-tracker.ts'
import { cleanupAfterEach } from './helpers.ts'
import { MemoryContent } from './memory-content.ts'

const { startTracker, startAgent } = cleanupAfterEach()

const cmd = (seq: number): Command => ({
  seq,
  id: `cmd-${seq}`,
  op: 'place',
  resource: 'lesson',
  version: seq,
  manifestCid: `bafy-v${seq}`,
})

describe('agent channel', () => {
  it('ignores commands that arrive before the tracker welcomed the node', async () => {
    const tracker = await startTracker()
    const content = new MemoryContent()
    const agent = await startAgent(content, { trackers: [tracker.url] })
    const ws = await tracker.next()
    const signed = (seq: number) => signedCmd(tracker.signer, agent.peerId, cmd(seq))
    // a command before the challenge is answered, and one after the hello but before welcome
    send(ws, signed(1))
    send(ws, { t: 'challenge', nonce: 'n1', trackerId: tracker.signer.id })
    const hello = await received(ws, tracker.frames, 'hello')
    send(ws, signed(2))
    const sig = tracker.signer.welcome({
      nodeNonce: hello.nonce ?? '',
      trackerNonce: 'n1',
      peerId: agent.peerId,
      nodeId: 'n1',
    })
    send(ws, { t: 'welcome', nodeId: 'n1', sig })
    send(ws, signed(3))
    // frames are handled in order: once cmd-3 is ACKed, the earlier ones were seen too
    await received(ws, tracker.frames, 'ack')
    expect(tracker.frames.filter((f) => f.t === 'ack')).toEqual([{ t: 'ack', seq: 3, id: 'cmd-3' }])
    expect(await agent.journal.get('cmd-1')).toBeUndefined()
    expect(await agent.journal.get('cmd-2')).toBeUndefined()
    await received(ws, tracker.frames, 'outcome')
    expect(content.calls.filter((c) => c.startsWith('fetch'))).toEqual(['fetch bafy-v3'])
  })
})
