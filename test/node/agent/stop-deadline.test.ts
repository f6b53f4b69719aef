/**
 * Stopping while the node's content API ignores the abort (a fetch stuck on a hung disk):
 * the agent stops within its deadline, says which command it left, and the next start
 * applies that command.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { afterEach, describe, expect, it } from 'vitest'
import type { FetchProgress } from '../../../node/agent/index.ts'
import { type Agent, createAgent } from '../../../node/agent/index.ts'
import type { Command } from '../../../node/agent/protocol.ts'
import { type FakeTracker, fakeTracker, handshake, received, send, signedCmd } from './fake-tracker.ts'
import { until, within } from './helpers.ts'
import { MemoryContent } from './memory-content.ts'

const agents: Agent[] = []
const fakes: FakeTracker[] = []
const dirs: string[] = []
afterEach(async () => {
  for (const a of agents.splice(0)) await a.stop()
  for (const f of fakes.splice(0)) await f.close()
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true })
})

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
    const dir = await mkdtemp(join(tmpdir(), 'agent-stop-'))
    dirs.push(dir)
    const tracker = await fakeTracker()
    fakes.push(tracker)
    const key = await generateKeyPair('Ed25519')
    const warnings: string[] = []
    const hung = new HungContent()
    const agent = createAgent(
      { content: hung, privateKey: key },
      { trackers: [tracker.url], dir, stopTimeoutMs: 300, onWarning: (m) => warnings.push(m) },
    )
    await agent.start()
    const ws = await tracker.next()
    await handshake(ws, tracker)
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
    const again = createAgent({ content, privateKey: key }, { trackers: [tracker.url], dir })
    agents.push(again)
    await again.start()
    await until(() => content.table.get('lesson') === 'bafy-v1', 'c-1 applied after the restart')
    await until(async () => (await again.journal.get('c-1'))?.status === 'active', 'c-1 recorded')
    expect((await again.journal.applied()).map((a) => a.id)).toEqual(['c-1'])
  })
})
