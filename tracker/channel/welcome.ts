/**
 * A node's hello on the channel ({@link handleHello}), from its admission to its replay: admitted
 * or refused (`hello.ts`), its session bound to the node (replacing a connection of the same
 * node), its enrollment and connection announced, the welcome signed with the tracker's key
 * (with a statement of its campus membership if it named the feature, `membership.ts`),
 * then the replay of its outbox, with what its campus runs and it lacks queued after it.
 * The sockets and every other frame are the server's (`server.ts`).
 */
import {
  CLOSE_CODES,
  HEALTH_FEATURE,
  MEMBERSHIP_FEATURE,
  NODE_COMMANDS_FEATURE,
  type ServerFrame,
  TRACKER_FEATURES,
} from '../../node/agent/protocol.ts'
import type { TrackerSigner } from '../../node/agent/tracker-auth.ts'
import type { SignedMembership } from '../../node/membership.ts'
import type { HealthBook } from '../health/book.ts'
import type { NodeEvents } from '../node-events.ts'
import type { RolloutEngine } from '../rollout/engine.ts'
import type { NodeRecord, TrackerState } from '../state/index.ts'
import { admit, type HelloFrame } from './hello.ts'
import type { MembershipIssuer } from './membership.ts'
import type { ChannelStats, Session } from './server-types.ts'
import { closeChannel } from './socket.ts'

/** Components of {@link handleHello}. */
export interface WelcomeComponents {
  state: TrackerState
  /** The shared enrollment token, if any (`ChannelServerInit.enrollmentToken`). */
  enrollmentToken?: string
  /** The server's welcomed sessions, by node id: the hello's is added, replacing the node's last. */
  sessions: Map<string, Session>
  /** Counts `connected` and `authFailures`. */
  stats: ChannelStats
  engine: () => RolloutEngine
  /** Signs the welcome with the tracker's key. */
  signer: TrackerSigner
  /** Where a node's enrollment and connection are announced. */
  nodeEvents?: NodeEvents
  /** Issues the membership statements. */
  membership: MembershipIssuer
  /** The nodes' latest health reports: a node whose agent does not report has its last one forgotten. */
  health: HealthBook
  /** Sends a frame on a session. */
  send: (s: Session, frame: ServerFrame) => void
  /** Sends a node's not-yet-sent commands if it is connected. */
  deliver: (nodeId: string) => void
}

/**
 * Handles the hello `f` on `s`: the node is admitted or refused; once admitted, `s` is its
 * session, it is welcomed, its outbox is replayed and what is not yet sent is delivered. A
 * second hello on a session is ignored.
 */
export async function handleHello(c: WelcomeComponents, s: Session, f: HelloFrame): Promise<void> {
  if (s.nodeId !== undefined) return
  clearTimeout(s.helloTimer)
  // not kept for the life of the session: 5,000 sessions would hold 5,000 spent timers
  s.helloTimer = undefined
  const { node, refused, enrolled } = await admit(
    { state: c.state, enrollmentToken: c.enrollmentToken },
    s.nonce,
    f,
  )
  if (refused !== undefined) return refuse(c, s, refused.code, refused.message, refused.close)
  // closed meanwhile, e.g. by a failed write: the state may have been reloaded since
  if (s.ws.readyState !== s.ws.OPEN) return
  const old = c.sessions.get(node.id)
  if (old !== undefined) {
    c.sessions.delete(node.id)
    c.stats.connected--
    closeChannel(old.ws, CLOSE_CODES.replaced, 'replaced')
  }
  s.nodeId = node.id
  s.peerId = f.peerId
  s.nodeCommands = f.features?.includes(NODE_COMMANDS_FEATURE) === true
  c.sessions.set(node.id, s)
  c.stats.connected++
  welcome(c, s, f, node, enrolled)
  await replay(c, node.id, f)
  c.deliver(node.id)
}

/** Refuses a hello: counts it, sends the error frame and closes the channel with `close`. */
function refuse(
  c: WelcomeComponents,
  s: Session,
  code: string,
  message: string,
  close: number = CLOSE_CODES.unauthorized,
): void {
  c.stats.authFailures++
  c.send(s, { t: 'error', code, message })
  closeChannel(s.ws, close, code)
}

/**
 * Announces `node` (enrolled by this hello if `enrolled`, and connected) and sends it the
 * signed welcome, with a membership statement if its hello `f` named the feature.
 */
function welcome(
  c: WelcomeComponents,
  s: Session,
  f: HelloFrame,
  node: NodeRecord,
  enrolled: boolean | undefined,
): void {
  if (enrolled === true)
    c.nodeEvents?.announce({
      type: 'node.enrolled',
      nodeId: node.id,
      peerId: f.peerId,
      campus: node.campus,
    })
  // a replaced connection (the same node again) is announced as connected, never as gone
  c.nodeEvents?.announce({ type: 'node.connected', nodeId: node.id, peerId: f.peerId })
  // Statements go only to nodes that asked: an older agent drops the connection on a frame
  // type it does not know (an extra welcome field it ignores).
  let membership: SignedMembership | undefined
  if (f.features?.includes(MEMBERSHIP_FEATURE) === true) {
    s.membership = { nodeId: node.id, peerId: f.peerId }
    membership = c.membership.issue(s.membership)
  }
  // A node whose hello does not name the feature (an older agent) never reports: a report
  // kept from before would only grow overdue
  if (f.features?.includes(HEALTH_FEATURE) !== true) c.health.forget(node.id)
  // the node's nonce makes the signature fresh: a recorded welcome proves nothing later
  const sig = c.signer.welcome({
    nodeNonce: f.nonce ?? '',
    trackerNonce: s.nonce,
    peerId: f.peerId,
    nodeId: node.id,
  })
  // `features`: the node frames this tracker takes beyond the first version (`health`); an
  // older agent ignores the field, a newer one sends those frames only when it is named
  c.send(s, {
    t: 'welcome',
    nodeId: node.id,
    sig,
    features: [...TRACKER_FEATURES],
    ...(membership === undefined ? {} : { membership }),
  })
}

/**
 * Prepares the replay of `nodeId`'s outbox after its hello `f`, and commits it ({@link handleHello}
 * then delivers what is not yet sent). Everything still in the outbox goes out again on a new
 * connection. Commands up to the node's last sequence are ones it has; it answers those from
 * its dedup record (ACK + last outcome), which also recovers outcomes a restarted tracker
 * lost.
 */
async function replay(c: WelcomeComponents, nodeId: string, f: HelloFrame): Promise<void> {
  const tx = c.state.tx()
  // the writers' outbox of now: after the enrollment's commit it may be a reloaded one
  const box = c.state.outbox
  // what it runs now, for the inventory (a rolling upgrade's progress)
  if (f.version !== undefined) c.state.inventory.reportVersion(tx, nodeId, f.version)
  box.ensureAbove(tx, nodeId, f.lastSeq)
  // commands an abort withdrew while the node was away but that it holds (their ACK was
  // lost) come back, ACKed, for the replay to ask it what it did
  c.engine().onHello(tx, nodeId, f.lastSeq)
  for (const e of box.entriesOf(nodeId)) {
    if (e.cmd.seq <= f.lastSeq) box.ack(tx, nodeId, e.cmd.seq, e.cmd.id)
    e.attempts = 0
  }
  // what its campus runs and it lacks (it enrolled, or was moved, after a release
  // completed there): queued after `ensureAbove`, so above every sequence it holds
  c.engine().reconcile(tx, nodeId)
  await tx.commit({ sync: tx.ops.some((op) => op.key.startsWith('seq!')) })
}
