/**
 * Sending commands down the channels: each signed once for the node's key (a retransmit sends
 * the same bytes), first sent once on disk, then retransmitted with exponential backoff until
 * ACKed. The server (`server.ts`) says when: after a commit, at a hello, on its tick.
 */
import {
  type Command,
  isResourceCommand,
  LEGACY_NODE_COMMAND_FIELDS,
  type ServerFrame,
} from '../../node/agent/protocol.ts'
import type { TrackerSigner } from '../../node/agent/tracker-auth.ts'
import type { OutboxEntry, TrackerState } from '../state/index.ts'
import type { ChannelStats, Session } from './server-types.ts'

/** Components of {@link CommandSender}. */
export interface CommandSenderComponents {
  state: TrackerState
  signer: TrackerSigner
  /** Counts `sent` and `retransmits`. */
  stats: ChannelStats
  send(s: Session, frame: ServerFrame): void
}

/** Options of {@link CommandSender} (the server fills in the defaults). */
export interface CommandSenderInit {
  retransmitInitialMs: number
  retransmitMaxMs: number
}

/** See the module comment. */
export class CommandSender {
  /**
   * Each command's signature, made once (a retransmit sends the same bytes), with the
   * PeerId it was made for: a node deleted and enrolled again under the same id with a new
   * key still has its old commands replayed, and they must be signed for the new key. With
   * the shape it was sent in (see {@link wireShape}): the node may be upgraded in between.
   */
  private readonly signatures = new WeakMap<object, { peerId: string; cmd: Command; sig: string }>()
  private readonly c: CommandSenderComponents
  private readonly init: CommandSenderInit

  constructor(components: CommandSenderComponents, init: CommandSenderInit) {
    this.c = components
    this.init = init
  }

  /** Sends the commands of `s`'s node not sent yet (since its hello) that are on disk. */
  deliver(s: Session, nodeId: string, now: number): void {
    // A command MUST be on disk before it is sent: one whose commit is in flight (another
    // change's) may yet fail; its own committer delivers it once the commit succeeded.
    for (const e of this.c.state.outbox.entriesOf(nodeId))
      if (e.attempts === 0 && e.durable) this.transmit(s, e, now)
  }

  /** Sends again every unACKed command past its backoff to a node in `sessions`. */
  retransmit(sessions: ReadonlyMap<string, Session>, now: number): void {
    const { outbox } = this.c.state
    for (const nodeId of outbox.nodesWithUnacked()) {
      const s = sessions.get(nodeId)
      if (s === undefined) continue
      for (const e of outbox.entriesOf(nodeId)) {
        if (e.state !== 'pending' || e.attempts === 0 || e.nextAt > now) continue
        // still flushing earlier frames to this node: re-sending would only queue behind them
        if (s.ws.bufferedAmount > 0) continue
        this.c.stats.retransmits++
        this.transmit(s, e, now)
      }
    }
  }

  private transmit(s: Session, e: OutboxEntry, now: number): void {
    e.attempts++
    const delay = Math.min(this.init.retransmitInitialMs * 2 ** (e.attempts - 1), this.init.retransmitMaxMs)
    e.nextAt = now + delay
    this.c.stats.sent++
    const peerId = s.peerId as string
    const cmd = wireShape(e.cmd, s.nodeCommands === true)
    let signed = this.signatures.get(e.cmd)
    if (signed?.peerId !== peerId || signed.cmd.resource !== cmd.resource) {
      signed = { peerId, cmd, sig: this.c.signer.command(peerId, cmd) }
      this.signatures.set(e.cmd, signed)
    }
    this.c.send(s, { t: 'cmd', cmd: signed.cmd, sig: signed.sig })
  }
}

/**
 * `cmd` as a node is sent it. A command about the node as a whole (`scrub`) has no resource
 * fields, and goes so to a node whose hello named `node-commands`. An older agent refuses a
 * command without them as a bad frame, dropping the connection, and the replay at the next
 * one would drop it again, holding every command after it: it is sent the placeholders it
 * takes (`LEGACY_NODE_COMMAND_FIELDS`), and ACKs the command and reports it failed, an op it
 * does not know. The signature covers the fields as sent.
 */
export function wireShape(cmd: Command, nodeCommands: boolean): Command {
  if (nodeCommands || isResourceCommand(cmd) || cmd.resource !== undefined) return cmd
  return { ...cmd, ...LEGACY_NODE_COMMAND_FIELDS }
}
