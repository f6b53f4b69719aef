/**
 * Stopping while the node's content API ignores the abort (a fetch stuck on a hung disk):
 * the agent stops within its deadline, says which command it left, and the next start
 * applies that command.
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { describe, expect, it } from 'vitest'
import { createAgent, type FetchProgress } from '../../../node/agent/index.ts'
import type { Command } from '../../../node/agent/protocol.ts'
import { received, send, signedCmd, welcomeNext } from './fake-tracker.ts'
import { cleanupAfterEach, until, within } from './helpers.ts'
import { MemoryContent } from './memory-content.ts'

const { tempDir, startTracker, startAgent } = cleanupAfterEach()

/** Content whose fetch never ends and does not look at its signal. */
class HungContent extends MemoryContent {
  override async fetch(
    cid: string,
    _options: { signal?: AbortSignal; onProgress?: (p: FetchProgress) => void },
  ): Promise<unknown> {
    this.calls.push(`fetch ${cid}`)
    return new Promise(() => {})
  }
}

const place: Command = {
  seq: 1,
  id: 'c-1',
  op: 'place',
  resource: 'lesson',
  version: 1,
  manifestCid: 'bafy-v1',
}

describe('agent stop deadline', () => {
  it('stops within its deadline when a content call ignores the abort, and applies the command at the next start', async () => {
    const dir = await tempDir('agent-stop-')
    const tracker = await startTracker()
    const key = await generateKeyPair('Ed25519')
    const warnings: string[] = []
    const hung = new HungContent()
    // not started through the kit: the test stops it itself, and checks how long that takes
    const agent = createAgent(
      { content: hung, privateKey: key },
      { trackers: [tracker.url], dir, stopTimeoutMs: 300, onWarning: (m) => warnings.push(m) },
    )
    await agent.start()
    const ws = await welcomeNext(tracker)
    send(ws, signedCmd(tracker.signer, agent.peerId, place))
    await received(ws, tracker.frames, 'ack')
    await until(() => hung.calls.includes('fetch bafy-v1'), 'the fetch started')

    const started = Date.now()
    await within(agent.stop(), 5_000, 'stop() to return')
    expect(Date.now() - started).toBeGreaterThanOrEqual(250)
    expect(warnings.map((w) => JSON.parse(w) as { event: string; commands: string[] })).toEqual([
      expect.objectContaining({ event: 'agent-stop-timeout', commands: ['c-1'] }),
    ])

    // the daemon restarts: the command the stop left is still to be applied, and is
    const content = new MemoryContent()
    const again = await startAgent(content, { trackers: [tracker.url], dir }, key)
    await until(() => content.table.get('lesson') === 'bafy-v1', 'c-1 applied after the restart')
    await until(async () => (await again.journal.get('c-1'))?.status === 'active', 'c-1 recorded')
    expect((await again.journal.applied()).map((a) => a.id)).toEqual(['c-1'])
  })
})
