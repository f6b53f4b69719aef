/**
 * What an abort withdraws: the `place` commands of the release still waiting, unACKed, for
 * nodes that are offline are taken out of their outboxes, so a release the operator stopped
 * (a wrong lesson, a broken version) does not land days later on every node that was away.
 * Such a node's state in the release becomes `withdrawn`. Commands a node ACKed, and those
 * out to a node connected now (being sent), stay: nodes keep what they got.
 *
 * A node may have received a withdrawn command on an earlier connection whose ACK was lost
 * (the agent records a command, and its sequence, before it ACKs). Its next hello says so
 * (`lastSeq` at or above the command's sequence): the command is put back as ACKed, the
 * replay sends it, and the node answers from its journal with what it did (dedup by id:
 * it never applies it twice). The node's state is then what it reports. Only that first
 * hello tells: every command assigned since was assigned while it was away, so none can
 * have raised its `lastSeq` yet. Later hellos are not asked (a newer release's command
 * raises `lastSeq` past the withdrawn one, which the node never got).
 */
import type { Release, TrackerState, Tx } from '../state/index.ts'
import type { Announce } from './engine-types.ts'
import { placeFields } from './place.ts'

/**
 * Withdraws, in `tx`, every command of `r` no node has ACKed whose node is not connected
 * now (`isConnected`), and marks those nodes `withdrawn`. Returns how many it withdrew.
 */
export function withdrawUndelivered(
  state: TrackerState,
  tx: Tx,
  r: Release,
  isConnected: (nodeId: string) => boolean,
  now = Date.now(),
): number {
  let withdrawn = 0
  for (const rn of state.releases.nodesOf(r.id).values()) {
    // only a node that said nothing of it: a progress report (`fetching`) proves receipt
    if (rn.state !== 'pending' || rn.cmdId === undefined || rn.deletedAt !== undefined) continue
    const e = state.outbox.byCommand(rn.cmdId)
    // ACKed (a reconnect's `lastSeq` ACKs without a report), or being sent to a connected node
    if (e === undefined || e.nodeId !== rn.nodeId || e.state !== 'pending' || isConnected(rn.nodeId)) continue
    state.outbox.cancel(tx, rn.nodeId, rn.cmdId)
    // a changed copy, never a change in place: the readers share the written object
    state.releases.putNode(tx, r.id, {
      ...rn,
      state: 'withdrawn',
      withdrawnAt: now,
      withdrawnSeq: e.cmd.seq,
    })
    withdrawn++
  }
  return withdrawn
}

/** Components of {@link recoverWithdrawn}. */
export interface RecoverComponents {
  state: TrackerState
  announce: Announce
}

/**
 * `nodeId` says hello holding every sequence up to `lastSeq`: each command withdrawn from it
 * that it holds all the same is put back into its outbox, ACKed, for the replay to ask it
 * what it did (see the module comment); its state becomes `fetching` until it answers.
 * Returns how many were put back. One its full outbox has no room for is tried again at its
 * next hello.
 */
export function recoverWithdrawn(c: RecoverComponents, tx: Tx, nodeId: string, lastSeq: number): number {
  const { state } = c
  let recovered = 0
  // the releases that withdrew a command from it, not every release (an index kept by the
  // repository), in the order of the withdrawn commands
  const withdrawals = state.releases
    .withdrawnAwaitingHello(nodeId)
    .flatMap((id) => {
      const r = state.releases.releases.get(id)
      const rn = state.releases.nodes.get(id)?.get(nodeId)
      return r === undefined || rn?.cmdId === undefined || rn.withdrawnSeq === undefined ? [] : [{ r, rn }]
    })
    .sort((a, b) => (a.rn.withdrawnSeq ?? 0) - (b.rn.withdrawnSeq ?? 0))
  for (const { r, rn } of withdrawals) {
    if (rn.cmdId === undefined || rn.withdrawnSeq === undefined) continue
    if (rn.withdrawnSeq > lastSeq) {
      // its first hello since the withdrawal says it never got it, and that is final: a
      // later command (a newer release's) takes its `lastSeq` past this one at a later
      // hello without the node ever having received the withdrawn one
      state.releases.putNode(tx, r.id, { ...rn, withdrawnSeq: undefined })
      continue
    }
    const cmd = { ...placeFields(r, rn.variant), seq: rn.withdrawnSeq, id: rn.cmdId }
    if (!state.outbox.restore(tx, nodeId, cmd)) continue
    state.releases.putNode(tx, r.id, { ...rn, state: 'fetching' })
    if (r.status === 'aborted' && r.result !== undefined) {
      r.result = state.releases.resultOf(r)
      state.releases.put(tx, r)
    }
    c.announce(tx, { type: 'release.node', releaseId: r.id, nodeId, state: 'fetching', withdrawn: true })
    recovered++
  }
  return recovered
}
