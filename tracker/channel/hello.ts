/**
 * Admission of a node's hello: who it is (its signature of the connection's nonce, by the
 * key it names), whether an unknown key may enroll, and whether the tracker can continue
 * after the `lastSeq` it reports; an enrollment is on disk before the node is admitted. What
 * follows (its session, the welcome, the replay of its outbox) is `welcome.ts`'s.
 */
import { logger } from '@libp2p/logger'
import { CLOSE_CODES, type Enrollment, type NodeFrame } from '../../node/agent/protocol.ts'
import type { LastSeqOutOfRangeError } from '../errors.ts'
import type { EnrollmentTokenRecord, NodeRecord, TrackerState } from '../state/index.ts'
import { safeEqual, verifyHello } from './auth.ts'

const log = logger('dandelion:tracker:channel')

/** A node's hello. */
export type HelloFrame = Extract<NodeFrame, { t: 'hello' }>

/** Why a hello was refused: the error frame sent, and the close code (unauthorized unless said). */
export interface Refusal {
  code: string
  message: string
  close?: number
}

/** The node a hello admitted, or why it was refused. */
export type Admission =
  | { node: NodeRecord; refused?: undefined /** Its key was bound by this hello. */; enrolled?: boolean }
  | { node?: undefined; refused: Refusal; enrolled?: undefined }

/** Components of {@link admit}. */
export interface AdmitComponents {
  state: TrackerState
  /**
   * The shared token a node may present once, at enrollment; tokens issued through the API
   * (`state.enrollmentTokens`) enroll too.
   */
  enrollmentToken?: string
}

const refused = (code: string, message: string, close?: number): Admission => ({
  refused: { code, message, ...(close === undefined ? {} : { close }) },
})

/**
 * Checks hello `f`, answering the challenge `nonce`, and enrolls the node it names if its key
 * is new and it brings the shared enrollment token or an issued one that allows it (expiry,
 * uses, campus; the use counted in the same commit, synced). Rejects only if that commit
 * fails.
 */
export async function admit(c: AdmitComponents, nonce: string, f: HelloFrame): Promise<Admission> {
  // The hello MUST carry a signature of this connection's nonce by the key of `peerId`.
  if (!(await verifyHello(nonce, f.peerId, f.sig))) return refused('ERR_BAD_SIGNATURE', 'bad signature')
  const { inventory, outbox } = c.state
  let node = inventory.nodeByPeer(f.peerId)
  // From here to the enrollment's commit nothing is awaited: an issued token's uses are
  // checked and counted in one step, so two nodes racing for its last use cannot both win.
  let issued: EnrollmentTokenRecord | undefined
  if (node === undefined) {
    // A machine whose binding an operator released (it was replaced) MUST NOT take its node
    // id back by itself: told ERR_NOT_ENROLLED, its agent would enroll again with its token,
    // before its replacement if it came back first. Only an enrollment it sends of its own
    // accord (its agent's journal reset) binds it again.
    const unbound = f.enroll === undefined ? inventory.unboundFrom(f.peerId) : undefined
    if (unbound !== undefined)
      return refused(
        'ERR_PEER_UNBOUND',
        `this machine's binding to node ${unbound} was released by an operator (DELETE /api/v1/nodes/${unbound}/peer) for a machine replacing it, and is not taken back by itself: to run this one as ${unbound} again while no other machine has enrolled as ${unbound}, remove its agent journal (DIR/agent) so that it enrolls with the enrollment token; otherwise enroll it under another node id`,
      )
    // the code stays ERR_NOT_ENROLLED (the agent and the daemon's hints match it); the
    // words say what to do, where "unknown peer" did not
    if (f.enroll === undefined)
      return refused(
        'ERR_NOT_ENROLLED',
        'this node is not enrolled: its first connection needs the enrollment token (--enroll-token on the node, or DANDELION_ENROLLMENT_TOKEN)',
      )
    // The token MUST be the tracker's shared one or one issued through the API and not
    // revoked (an unknown or revoked one is told apart from neither: a bad token)
    if (c.enrollmentToken === undefined || !safeEqual(f.enroll.token, c.enrollmentToken)) {
      issued = c.state.enrollmentTokens.find(f.enroll.token)
      if (issued === undefined) return refused('ERR_BAD_ENROLLMENT_TOKEN', 'bad enrollment token')
    }
  }
  // The hello's lastSeq MUST be one this tracker can continue after; it is checked
  // before anything is saved (enrollment, sequence numbers).
  try {
    outbox.checkLastSeq(node?.id ?? (f.enroll as Enrollment).nodeId, f.lastSeq)
  } catch (err) {
    const e = err as LastSeqOutOfRangeError
    return refused(e.code, e.message, CLOSE_CODES.protocol)
  }
  if (node === undefined) {
    let enroll = f.enroll as Enrollment
    const now = Date.now()
    const tx = c.state.tx()
    try {
      if (issued !== undefined) {
        // a node registered beforehand keeps its campus (`Inventory.enroll`): that is the
        // campus the token must allow; an issued token for one campus puts the node in it
        const campus = inventory.nodes.get(enroll.nodeId)?.campus ?? enroll.campus
        enroll = { ...enroll, campus: c.state.enrollmentTokens.checkUse(issued, campus, now) }
      }
      node = inventory.enroll(tx, enroll.nodeId, f.peerId, enroll)
      if (issued !== undefined) c.state.enrollmentTokens.use(tx, issued.id, node.id, now)
    } catch (err) {
      return refused((err as { code?: string }).code ?? 'ERR_ENROLL', (err as Error).message)
    }
    await tx.commit({ sync: true })
    log('enrolled %s as %s', f.peerId, node.id)
    return { node, enrolled: true }
  }
  return { node }
}
