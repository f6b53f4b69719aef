/**
 * The commands of the tracker ⇄ node channel (`protocol.ts`): what a command asks, its shape
 * on the wire for a resource's version or for the node as a whole, and its shape check
 * (verify before trust).
 */

/** What a command asks a node to do with a version of a resource. */
export type ResourceOp = 'place' | 'activate' | 'deactivate' | 'evict'
/** What a command asks of the node as a whole (`scrub`: a pass over its on-disk store now). */
export type NodeOp = 'scrub'
/** What a command asks a node to do. */
export type CommandOp = ResourceOp | NodeOp

/**
 * What a {@link NodeCommand} carries in the resource fields to a node whose hello does not
 * name the `node-commands` feature (an older agent requires them: `protocol.ts`, `NODE_COMMANDS_FEATURE`). The agent
 * never reads them for an op it does not know: it only records them in its journal.
 */
export const LEGACY_NODE_COMMAND_FIELDS = { resource: '-', version: 0, manifestCid: '-' } as const

/** What every command carries. */
interface CommandBase {
  /** Per-node sequence number, strictly increasing from 1. */
  seq: number
  /** Globally unique command id: the node's dedup key. */
  id: string
  /** Release that issued the command, if any. */
  releaseId?: string
}

/** A command about a version of a resource. */
export interface ResourceCommand extends CommandBase {
  op: ResourceOp
  /** Resource name (what `GET /content/by-name/:resource` serves). */
  resource: string
  /** Version number of the resource this command is about. */
  version: number
  manifestCid: string
  /** `place`: switch the resource to this version at this time (epoch ms); absent = as soon as placed. */
  activateAt?: number
}

/**
 * A command about the node as a whole: it names no resource. The resource fields are absent
 * from what a tracker sends to a node naming the `node-commands` feature, and hold
 * {@link LEGACY_NODE_COMMAND_FIELDS} in what it sends to one that does not; never read.
 */
export interface NodeCommand extends CommandBase {
  op: NodeOp
  resource?: string
  version?: number
  manifestCid?: string
  activateAt?: undefined
}

/**
 * A command as carried on the wire. One whose op this agent does not know (a newer
 * tracker's) is taken too, typed as one of these: {@link isKnownOp} tells.
 */
export type Command = ResourceCommand | NodeCommand

/** A command's fields but its sequence number and id (what the tracker's outbox is given to queue). */
export type CommandFields = Omit<ResourceCommand, 'seq' | 'id'> | Omit<NodeCommand, 'seq' | 'id'>

/** What a scrub pass found (`done` outcome of a `scrub` command). */
export interface ScrubFindings {
  /** Chunks read back and hashed. */
  chunksChecked: number
  /** Chunks whose bytes were not what was stored: dropped, and fetched again. */
  corruptFound: number
  /** Chunks that could not be read at all (an I/O error): kept. */
  readErrors: number
}

const RESOURCE_OPS = new Set<string>(['place', 'activate', 'deactivate', 'evict'] satisfies ResourceOp[])
const OPS = new Set<string>([...RESOURCE_OPS, 'scrub' satisfies NodeOp])

/** Whether this node knows how to run `op`. */
export function isKnownOp(op: string): op is CommandOp {
  return OPS.has(op)
}

/** Whether `cmd` is about a version of a resource (its op is one of {@link ResourceOp}). */
export function isResourceCommand(cmd: Command): cmd is ResourceCommand {
  return RESOURCE_OPS.has(cmd.op)
}

/**
 * The shape of an op name. A command whose op this node does not know (a tracker newer than
 * the node) is still taken, ACKed and reported failed with the reason: refused as a bad
 * frame, it dropped the connection at each replay, and every command after it waited.
 */
const OP_NAME = /^[a-z][a-z0-9-]{0,31}$/
export const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0
export const isStr = (v: unknown, max = 512): v is string =>
  typeof v === 'string' && v.length > 0 && v.length <= max
export const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0

/** Checks a command's shape; returns it or undefined. */
export function parseCommand(v: unknown): Command | undefined {
  if (typeof v !== 'object' || v === null) return undefined
  const c = v as Record<string, unknown>
  if (!isInt(c.seq) || c.seq < 1 || !isStr(c.id) || typeof c.op !== 'string' || !OP_NAME.test(c.op))
    return undefined
  // The resource fields MUST be there for an op about a resource; for any other (`scrub`, or
  // an op of a newer tracker) they may be left out, and are checked when present
  const about = RESOURCE_OPS.has(c.op)
  if (about || c.resource !== undefined || c.version !== undefined || c.manifestCid !== undefined)
    if (!isStr(c.resource) || !isInt(c.version) || !isStr(c.manifestCid)) return undefined
  if (c.activateAt !== undefined && !isInt(c.activateAt)) return undefined
  if (c.releaseId !== undefined && !isStr(c.releaseId)) return undefined
  return c as unknown as Command
}

/** A scrub's findings: three counts (other fields are ignored, and never kept). */
export const isScrubFindings = (v: unknown): v is ScrubFindings => {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false
  const f = v as Record<string, unknown>
  return isInt(f.chunksChecked) && isInt(f.corruptFound) && isInt(f.readErrors)
}
