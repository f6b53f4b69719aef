/**
 * The agent's command handling: dedup incoming commands against the journal, ACK after the
 * receipt is on disk, queue them for the executor, and send its progress and outcomes.
 */
import { logger } from '@libp2p/logger'
import { Executor } from './executor.ts'
import type { AgentContentApi } from './index.ts'
import type { Journal, JournalRecord } from './journal.ts'
import type { Command, NodeFrame } from './protocol.ts'

const log = logger('dandelion:node:agent')

/** What the command handling uses of the node and of the channel. */
export interface CommandHandlerComponents {
  content: AgentContentApi
  journal: Journal
  /** Sends a frame to the tracker while connected (`TrackerChannel.send`). */
  send(frame: NodeFrame): void
  /** A command's outcome was recorded (and sent, if connected). */
  outcome(rec: JournalRecord): void
}

/** See the module comment. */
export class CommandHandler {
  /** Applies the commands received, in order. */
  readonly executor: Executor
  private readonly journal: Journal
  private readonly send: (frame: NodeFrame) => void

  constructor(components: CommandHandlerComponents) {
    this.journal = components.journal
    this.send = components.send
    this.executor = new Executor({
      content: components.content,
      journal: this.journal,
      events: {
        progress: (id, p) => this.send({ t: 'progress', id, ...p }),
        outcome: (rec) => {
          this.sendOutcome(rec)
          components.outcome(rec)
        },
      },
    })
  }

  private sendOutcome(rec: JournalRecord): void {
    if (rec.status === 'received') return
    this.send({
      t: 'outcome',
      id: rec.cmd.id,
      status: rec.status,
      reason: rec.reason,
      peerBytes: rec.peerBytes,
      originBytes: rec.originBytes,
      ...(rec.scrub === undefined ? {} : { scrub: rec.scrub }),
    })
  }

  /** Dedup by command id: a known command is re-ACKed and its outcome re-sent, never re-applied. */
  async onCommand(cmd: Command): Promise<void> {
    const known = await this.journal.get(cmd.id)
    if (known !== undefined) {
      this.send({ t: 'ack', seq: cmd.seq, id: cmd.id })
      this.sendOutcome(known)
      // received but not queued (the execution queue was full): queued now, not at the next start
      if (known.status === 'received' && !this.executor.holds(cmd.id))
        this.executor.push(this.journal.recovery === undefined ? known : { ...known, recovered: true })
      return
    }
    // Retention (`journal-retention.ts`): an unknown command at or below the pruned floor
    // is one this node applied and forgot, not a new one; it MUST NOT be applied again.
    if (cmd.seq <= this.journal.prunedSeq) {
      log.error('command %s (number %d) was pruned from the journal: not applied again', cmd.id, cmd.seq)
      this.send({ t: 'ack', seq: cmd.seq, id: cmd.id })
      this.send({
        t: 'outcome',
        id: cmd.id,
        status: 'failed',
        reason: `not applied: command number ${cmd.seq} is older than this node's journal keeps (it forgets finished commands up to number ${this.journal.prunedSeq})`,
      })
      return
    }
    // The receipt MUST be durable before the ACK: an ACKed command is never lost.
    const rec = await this.journal.receive(cmd)
    this.send({ t: 'ack', seq: cmd.seq, id: cmd.id })
    this.executor.push(rec)
  }
}
