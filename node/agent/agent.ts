/**
 * The agent: opens the journal, keeps the channel to the trackers (`channel.ts`: dial in
 * turn, answer the challenge with a signature of the node's key) and hands the commands
 * it receives to the command handling (`commands.ts`: dedup against the journal, ACK
 * after the receipt is on disk, execute, send progress and outcomes while connected).
 */
import { EventEmitter } from 'node:events'
import { logger } from '@libp2p/logger'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type WebSocket from 'ws'
import { InvalidConfigError } from '../errors.ts'
import type { SignedMembership } from '../membership.ts'
import { TrackerChannel } from './channel.ts'
import { CommandHandler } from './commands.ts'
import { HEALTH_CHECK_MS, STOP_DEADLINE_MS } from './constants.ts'
import type { Executor } from './executor.ts'
import { HealthReporter } from './health-reporter.ts'
import type { AgentComponents, AgentInit } from './index.ts'
import { Journal, type JournalRecord, LevelJournalStore, MemoryJournalStore } from './journal.ts'
import { HEALTH_INTERVAL_MS, MAX_VERSION_CHARS } from './protocol.ts'
import { isTrackerId } from './tracker-auth.ts'
import { journalDamagedLine, stopTimeoutLine } from './warnings.ts'

const log = logger('dandelion:node:agent')

/** Events of the agent. */
export interface AgentEvents {
  connected: [{ url: string; nodeId: string }]
  disconnected: [{ url: string; code: number; reason: string }]
  /**
   * The tracker refused this node (bad signature, bad enrollment token, identity taken), or
   * this node refused the tracker (`ERR_TRACKER_*`: a key it does not trust, a welcome or a
   * command its key did not sign).
   */
  refused: [{ code: string; message: string }]
  outcome: [JournalRecord]
  /**
   * The tracker stated this node's campus and city (at each welcome, then when the node is
   * moved or the statement is a day old), and the statement checked out: signed by the
   * tracker of the connection, about this node's PeerId, in date. For the node's swarm
   * hellos (`node/membership.ts`). A listener that throws is logged, the channel goes on.
   */
  membership: [SignedMembership]
}

/** See the module comment. */
export class Agent extends EventEmitter<AgentEvents> {
  readonly peerId: string
  readonly journal: Journal
  private readonly init: Required<
    Omit<AgentInit, 'dir' | 'enrollment' | 'trackerIds' | 'journalKeepFinal' | 'version'>
  > &
    Pick<AgentInit, 'enrollment' | 'version'>
  private readonly executor: Executor
  private readonly channel: TrackerChannel
  private readonly commands: CommandHandler
  /** Reports the node's health to a tracker that takes it (`health-reporter.ts`). */
  private readonly health: HealthReporter
  private latest?: SignedMembership

  constructor(components: AgentComponents, init: AgentInit) {
    super()
    if (init.trackers.length === 0) throw new InvalidConfigError('at least one tracker address')
    for (const url of init.trackers)
      if (!/^wss?:\/\/[^/]+/.test(url))
        throw new InvalidConfigError(`tracker address ${url} is not ws:// or wss://`)
    let trackerIds: ReadonlySet<string> | undefined
    // the tracker refuses a hello whose version is not 1–64 characters: say so here, once
    if (
      init.version !== undefined &&
      !(
        typeof init.version === 'string' &&
        init.version.length >= 1 &&
        init.version.length <= MAX_VERSION_CHARS
      )
    )
      throw new InvalidConfigError(`version must be 1 to ${MAX_VERSION_CHARS} characters`)
    if (init.trackerIds !== undefined) {
      if (init.trackerIds.length === 0) throw new InvalidConfigError('trackerIds is empty')
      for (const id of init.trackerIds)
        if (!isTrackerId(id)) throw new InvalidConfigError(`tracker id ${id} is not an ed25519 PeerId`)
      trackerIds = new Set(init.trackerIds)
    }
    for (const k of ['healthIntervalMs', 'healthCheckMs'] as const) {
      const v = init[k]
      if (v !== undefined && !(Number.isFinite(v) && v > 0)) throw new InvalidConfigError(`${k} must be > 0`)
    }
    this.peerId = peerIdFromPrivateKey(components.privateKey).toString()
    const { trackerIds: _ids, ...rest } = init
    this.init = {
      ...rest,
      trackers: [...init.trackers],
      reconnectInitialMs: init.reconnectInitialMs ?? 200,
      reconnectMaxMs: init.reconnectMaxMs ?? 10_000,
      silenceTimeoutMs: init.silenceTimeoutMs ?? 75_000,
      handshakeTimeoutMs: init.handshakeTimeoutMs ?? 15_000,
      stopTimeoutMs: init.stopTimeoutMs ?? STOP_DEADLINE_MS,
      healthIntervalMs: init.healthIntervalMs ?? HEALTH_INTERVAL_MS,
      healthCheckMs: init.healthCheckMs ?? HEALTH_CHECK_MS,
      onWarning: init.onWarning ?? ((message: string) => process.stderr.write(`${message}\n`)),
    }
    this.journal = new Journal(
      components.journalStore ??
        (init.dir === undefined ? new MemoryJournalStore() : new LevelJournalStore(init.dir)),
      { keepFinal: init.journalKeepFinal },
    )
    this.commands = new CommandHandler({
      content: components.content,
      journal: this.journal,
      send: (frame) => this.channel.send(frame),
      outcome: (rec) => this.emit('outcome', rec),
    })
    this.executor = this.commands.executor
    const content = components.content
    this.health = new HealthReporter(
      { health: () => content.health?.(), send: (frame) => this.channel.send(frame) },
      { intervalMs: this.init.healthIntervalMs, checkMs: this.init.healthCheckMs },
    )
    this.channel = new TrackerChannel(
      { privateKey: components.privateKey, peerId: this.peerId, journal: this.journal },
      { ...this.init, trackerIds },
      {
        connected: (e) => {
          this.health.welcomed(e.features)
          this.emit('connected', { url: e.url, nodeId: e.nodeId })
        },
        disconnected: (e) => {
          this.health.stop()
          this.emit('disconnected', e)
        },
        refused: (e) => this.emit('refused', e),
        command: (cmd) => this.commands.onCommand(cmd),
        membership: (m) => {
          this.latest = m
          try {
            this.emit('membership', m)
          } catch (err) {
            log.error('membership listener threw: %e', err)
          }
        },
      },
    )
  }

  /** Is the channel up and authenticated? */
  get connected(): boolean {
    return this.channel.connected
  }

  /**
   * The latest membership statement the tracker sent and this node believed (see the
   * `membership` event); kept across reconnects until a newer one comes. It may have
   * expired since: check it with `checkMembership` before showing it.
   */
  get membership(): SignedMembership | undefined {
    return this.latest
  }

  /** The current connection's socket. */
  private get ws(): WebSocket | undefined {
    return this.channel.socket
  }

  /**
   * Opens the journal (repairing it, or starting a new one beside the damaged files, see
   * `journal-open.ts`; a journal it cannot open throws `JournalOpenError`), re-queues what
   * a previous run left, and connects.
   */
  async start(): Promise<void> {
    await this.journal.open()
    const damage = this.journal.damageFound
    if (damage !== undefined) this.init.onWarning(journalDamagedLine(damage))
    this.channel.start()
    await this.executor.resume()
    this.channel.connect()
  }

  /**
   * Stops: no command starts from now; the one in progress ends (aborted, or its last step
   * done and written) before the journal closes and the daemon stops the node under it.
   * One whose content call ignores the abort is waited for `stopTimeoutMs`, then left (a
   * warning names it): the journal still holds it as received, and the next start applies it.
   */
  async stop(): Promise<void> {
    this.channel.stop()
    this.health.stop()
    const started = Date.now()
    const executing = this.executor.stop(this.init.stopTimeoutMs)
    this.ws?.terminate()
    await this.channel.received()
    const ended = await executing
    if (!ended.ended)
      this.init.onWarning(stopTimeoutLine(ended.running, Date.now() - started, this.init.stopTimeoutMs))
    await this.journal.close()
  }

  /** Drops the current connection (it reconnects); lets tests simulate a network cut. */
  disconnect(): void {
    this.ws?.terminate()
  }
}
