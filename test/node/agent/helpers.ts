/**
 * Shared parts of agent tests: small waits that fail with what they waited for (never as a test
 * timeout), an executor that records its outcomes, and the per-test cleanup of what a test starts.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { afterEach } from 'vitest'
import { Executor } from '../../../node/agent/executor.ts'
import { type Agent, type AgentContentApi, type AgentInit, createAgent } from '../../../node/agent/index.ts'
import { Journal, type JournalRecord, type JournalStore } from '../../../node/agent/journal.ts'
import { type FakeTracker, fakeTracker } from './fake-tracker.ts'
import { MemoryContent } from './memory-content.ts'

/** Waits until `check` holds, polling every 10 ms; throws `${what} within ${ms} ms` after `ms`. */
export async function until(
  check: () => boolean | Promise<boolean>,
  what: string,
  ms = 5_000,
): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} within ${ms} ms`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

/** Resolves as `p` does, or rejects after `ms` with `${what} within ${ms} ms`. */
export async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms)
      }),
    ])
  } finally {
    clearTimeout(timer)
  }
}

/** An executor with the content it works on and every outcome it reported, in order. */
export interface RecordingExecutor {
  executor: Executor
  content: MemoryContent
  outcomes: JournalRecord[]
}

/** An executor over `journal` and `content` that keeps the outcomes it reports and ignores progress. */
export function recordingExecutor(journal: Journal, content = new MemoryContent()): RecordingExecutor {
  const outcomes: JournalRecord[] = []
  const executor = new Executor({
    content,
    journal,
    events: { progress() {}, outcome: (r) => outcomes.push(r) },
  })
  return { executor, content, outcomes }
}

/** What {@link cleanupAfterEach} gives a test file: each thing it starts is stopped after the test. */
export interface AgentTestKit {
  /** A new temporary directory whose name starts with `prefix`; removed after the test. */
  tempDir(prefix: string): Promise<string>
  /** A {@link fakeTracker}; closed after the test. */
  startTracker(): Promise<FakeTracker>
  /** An agent over `content`, started, with a new Ed25519 key unless given `privateKey`; stopped after the test. */
  startAgent(content: AgentContentApi, init: AgentInit, privateKey?: PrivateKey): Promise<Agent>
  /** A journal over `store`, opened; closed after the test. */
  openJournal(store: JournalStore): Promise<Journal>
  /** A {@link recordingExecutor}; stopped after the test. */
  startExecutor(journal: Journal, content?: MemoryContent): RecordingExecutor
  /** Leaves `started` out of the cleanup: the test stopped or closed it itself. */
  forget(started: Agent | Journal): void
}

/**
 * Registers an `afterEach` that stops what the test started through the returned kit: its
 * executors, then agents, then trackers, then journals, then removes its directories. A file
 * calls it once, at the top; `first` and `last` run before and after that for its own things.
 */
export function cleanupAfterEach(
  hooks: { first?: () => void | Promise<void>; last?: () => void | Promise<void> } = {},
): AgentTestKit {
  const executors: Executor[] = []
  const agents: Agent[] = []
  const trackers: FakeTracker[] = []
  const journals: Journal[] = []
  const dirs: string[] = []
  afterEach(async () => {
    await hooks.first?.()
    for (const e of executors.splice(0)) await e.stop()
    for (const a of agents.splice(0)) await a.stop()
    for (const t of trackers.splice(0)) await t.close()
    for (const j of journals.splice(0)) await j.close()
    for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true })
    await hooks.last?.()
  })
  const remove = <T>(list: T[], item: T): void => {
    const i = list.indexOf(item)
    if (i !== -1) list.splice(i, 1)
  }
  return {
    async tempDir(prefix) {
      const dir = await mkdtemp(join(tmpdir(), prefix))
      dirs.push(dir)
      return dir
    },
    async startTracker() {
      const tracker = await fakeTracker()
      trackers.push(tracker)
      return tracker
    },
    async startAgent(content, init, privateKey) {
      const agent = createAgent(
        { content, privateKey: privateKey ?? (await generateKeyPair('Ed25519')) },
        init,
      )
      agents.push(agent)
      await agent.start()
      return agent
    },
    async openJournal(store) {
      const journal = new Journal(store)
      await journal.open()
      journals.push(journal)
      return journal
    },
    startExecutor(journal, content) {
      const recording = recordingExecutor(journal, content)
      executors.push(recording.executor)
      return recording
    },
    forget(started) {
      if (started instanceof Journal) remove(journals, started)
      else remove(agents, started)
    },
  }
}
