/**
 * What to do with a command flagged `recovered`: received while the journal recovers from
 * damage, so possibly one this node applied before the damage and the tracker sends again
 * (it replays every command it has no final outcome for). The content steps are not all
 * idempotent: placing again a version a newer command replaced switches the resource back,
 * an evict again removes a version placed since. So what the node holds is read first:
 *
 * 1. its effect is already in place (the resource serves that version; a deactivated
 *    resource has no name): recorded as applied, the content untouched;
 * 2. a later command of the same resource that it would undo is in the applied log (what
 *    the repair kept): not applied, reported failed;
 * 3. an evict of a version a resource serves or waits to activate: not applied (it can only
 *    be an old one);
 * 4. else it is applied: it was not, or nothing recorded since says otherwise.
 *
 * What remains (documented in node/README.md): a command applied and then undone by a
 * newer one, whose outcome the tracker never got while it got the newer one's, the damage
 * having lost the newer one's record too, is applied again.
 */
import type { AgentContentApi } from './index.ts'
import type { AppliedRecord, Journal } from './journal.ts'
import type { Command, ResourceCommand } from './protocol.ts'

/** The verdict on a recovered command. */
export type RecoveryVerdict =
  | { kind: 'apply' }
  | { kind: 'in-place'; status: 'active' | 'done' }
  | { kind: 'refuse'; reason: string }

/** What {@link judgeRecovered} reads. */
export interface RecoveryComponents {
  content: AgentContentApi
  journal: Journal
  /** Whether a resource serves `manifestCid`, or waits to activate it. */
  inUse(manifestCid: string): Promise<boolean>
}

const switches = (c: Pick<Command, 'op'>): boolean => c.op === 'place' || c.op === 'activate'

/** Whether applying `cmd` again now would undo `later`, applied after it on the same resource. */
function undoes(cmd: ResourceCommand, later: AppliedRecord): boolean {
  switch (cmd.op) {
    case 'place':
    case 'activate':
      // anything but a switch to the same version changed what `cmd` set
      return !(switches(later) && later.manifestCid === cmd.manifestCid)
    case 'deactivate':
      return switches(later)
    case 'evict':
      return switches(later) && later.manifestCid === cmd.manifestCid
    default:
      return false
  }
}

/** See the module comment. */
export async function judgeRecovered(c: RecoveryComponents, cmd: ResourceCommand): Promise<RecoveryVerdict> {
  const serving = await c.content.names.get(cmd.resource)
  if (switches(cmd) && serving === cmd.manifestCid) return { kind: 'in-place', status: 'active' }
  if (cmd.op === 'deactivate' && serving === undefined) return { kind: 'in-place', status: 'done' }
  for await (const later of c.journal.appliedAfter(cmd.resource, cmd.seq))
    if (undoes(cmd, later))
      return {
        kind: 'refuse',
        reason: `superseded: this node applied command ${later.id} (number ${later.seq}, ${later.op} ${later.manifestCid}) of ${cmd.resource} after it`,
      }
  if (cmd.op === 'evict' && (await c.inUse(cmd.manifestCid)))
    return {
      kind: 'refuse',
      reason: `not applied: ${cmd.manifestCid} is served or waiting for its activation here, and this node's journal was damaged, so this evict may be an old one sent again`,
    }
  return { kind: 'apply' }
}
