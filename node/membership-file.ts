/**
 * The tracker's last statement of a node's campus and city, kept in its data directory: a
 * node restarted while its tracker is unreachable still proves its campus to its peers.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Logger } from '@libp2p/interface'
import { writeFileDurably } from './durable-file.ts'
import type { NodeStatus } from './index.ts'
import { parseMembership, type SignedMembership } from './membership.ts'

/** Where a node keeps its tracker's last statement of its campus and city. */
const MEMBERSHIP_FILE = 'membership.json'

/** Keeps `signed` in `dataDir` for the next start, written whole. */
export async function keepMembership(dataDir: string, signed: SignedMembership): Promise<void> {
  await writeFileDurably(join(dataDir, MEMBERSHIP_FILE), JSON.stringify(signed))
}

/** What {@link restoreMembership} needs to decide whether the kept statement still holds. */
export interface RestoreMembershipOptions {
  /** The trackers this node trusts by its settings: a statement of another is not used. */
  trustedTrackers?: readonly string[]
  /** Takes the statement if it is valid, about this node and in date (`Locality.setMembership`). */
  accept: (signed: SignedMembership) => boolean
  log: Logger
}

/**
 * Hands the statement the last run kept to `accept`, if there is one and it still holds;
 * one that does not is logged and left (the node waits for a new one from its tracker).
 */
export async function restoreMembership(dataDir: string, options: RestoreMembershipOptions): Promise<void> {
  const text = await readFile(join(dataDir, MEMBERSHIP_FILE), 'utf8').catch(() => undefined)
  if (text === undefined) return
  let signed: SignedMembership | undefined
  try {
    signed = parseMembership(JSON.parse(text))
  } catch {}
  // its tracker must be one this node trusts by its settings, if it names any
  const trusted = options.trustedTrackers
  if (
    signed === undefined ||
    (trusted !== undefined && trusted.length > 0 && !trusted.includes(signed.m.tracker)) ||
    !options.accept(signed)
  )
    options.log(
      'the membership statement kept in %s is not used (unreadable, expired or of another tracker)',
      MEMBERSHIP_FILE,
    )
}

/** A statement as `status()` shows it. */
export function membershipStatus(s: SignedMembership | undefined): NodeStatus['membership'] {
  return s === undefined ? undefined : { tracker: s.m.tracker, nodeId: s.m.nodeId, expiresAt: s.m.expiresAt }
}
