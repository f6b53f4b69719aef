/**
 * What the node daemon says on stdout about its tracker, as JSON lines an operator (or a
 * supervisor) reads: each connection (`tracker`), a node id the tracker knows it by that is
 * not its settings' (`tracker-enrolled-as`), a refusal with what to do about it
 * (`tracker-refused`), and a tracker that has not answered at all (`tracker-waiting`).
 */
import type { Agent } from '../agent/index.ts'

/**
 * After this long without a welcome or a refusal from any tracker, the daemon says so: the
 * agent logs connection failures at debug level only, so a wrong port or a tracker that is
 * not running left the daemon retrying without a word.
 */
export const TRACKER_WAIT_WARN_MS = 15_000

/**
 * What the operator can do about a tracker's refusal, for the refusals a setting causes.
 * The tracker's own words ("campus x not found") do not always name the setting to change.
 */
export function refusalHint(code: string, message: string): string | undefined {
  switch (code) {
    case 'ERR_NOT_ENROLLED':
      return 'the tracker does not know this node yet: give it the enrollment token for its first connection (--enroll-token, DANDELION_ENROLLMENT_TOKEN, "enrollToken")'
    case 'ERR_BAD_ENROLLMENT_TOKEN':
      return 'the enrollment token is neither the tracker\'s shared one nor one it issued and still keeps (revoked tokens are forgotten): check --enroll-token, DANDELION_ENROLLMENT_TOKEN, "enrollToken"'
    case 'ERR_ENROLLMENT_TOKEN_EXPIRED':
    case 'ERR_ENROLLMENT_TOKEN_USED_UP':
      return "ask the tracker's operator for a new enrollment token (dandelion enroll-token create) and give it as --enroll-token; the node enrolls at its next connection"
    case 'ERR_ENROLLMENT_TOKEN_CAMPUS':
      return 'the enrollment token was issued for another campus than --campus (or than the campus the node was registered in): fix --campus, or use a token issued for this campus'
    case 'ERR_NOT_FOUND':
      return message.startsWith('campus ')
        ? "the campus is not in the tracker's inventory: create it first (POST /api/v1/cities, then POST /api/v1/campuses on the tracker's admin API), or fix --campus"
        : undefined
    case 'ERR_NODE_TAKEN': {
      // "node x is bound to another peer": a replacement machine (new data directory, new
      // key) under the id of the one it replaces, or two machines given the same --node-id
      const id = /^node (\S+) /.exec(message)?.[1] ?? '<node id>'
      return (
        `another machine (another peer.key) is enrolled as ${id}. If this machine replaces it, ` +
        `release the old machine's binding on the tracker (DELETE /api/v1/nodes/${id}/peer: ${id} keeps its campus, ` +
        'labels and releases) and this node enrolls with its --enroll-token at its next connection, or restore the old ' +
        `machine's DIR/peer.key here; the tracker then sends it what its campus runs (GET /api/v1/nodes/${id}/resources ` +
        'shows what it should run). Otherwise give this node its own --node-id'
      )
    }
    case 'ERR_TRACKER_UNTRUSTED':
      return 'the tracker\'s key is not the one this node obeys: --tracker-id must be the "trackerId" the tracker prints; without --tracker-id the first tracker met is pinned in DIR/agent'
    default:
      return undefined
  }
}

/**
 * The line said when the tracker knows this node under another id than its settings give:
 * enrollment (node id, campus, labels) is sent once, at the first connection.
 */
export function enrolledAsLine(trackerNodeId: string, configuredNodeId: string): Record<string, string> {
  return {
    event: 'tracker-enrolled-as',
    nodeId: trackerNodeId,
    configured: configuredNodeId,
    message:
      `the tracker knows this node as ${trackerNodeId}, not ${configuredNodeId}: a node enrolls once, and its ` +
      '--node-id, --campus and --labels are not sent again. To move it to another campus or change its labels, ' +
      `PATCH /api/v1/nodes/${trackerNodeId} on the tracker ({"campus": …, "labels": […]}); to give it another id, ` +
      `DELETE /api/v1/nodes/${trackerNodeId} (its releases finished or aborted) and it enrolls again with --enroll-token`,
  }
}

/** What {@link reportTracker} follows and where it writes. */
export interface ReportTrackerOptions {
  /** The node id the settings give (the agent's enrollment). */
  nodeId: string
  /** The tracker URLs, named in the waiting line. */
  trackers: readonly string[]
  out: (line: string) => void
  /** @default {@link TRACKER_WAIT_WARN_MS} */
  waitWarnMs?: number
}

/**
 * Says what the agent's tracker answers, from now on, and that none answered if none has
 * within `waitWarnMs`. Returns a function that cancels the waiting line.
 */
export function reportTracker(agent: Agent, options: ReportTrackerOptions): () => void {
  const { out } = options
  let answered = false
  let toldNodeId = false
  const configuredNodeId = options.nodeId
  agent.on('connected', ({ url, nodeId }) => {
    answered = true
    out(JSON.stringify({ event: 'tracker', url, nodeId }))
    // The tracker keeps what the node enrolled with: a --node-id changed since (or a --campus
    // changed without one, the derived id naming the campus) is never sent again, and the
    // ready line showed an id the tracker does not know. Said once per start.
    if (nodeId !== configuredNodeId && !toldNodeId) {
      toldNodeId = true
      out(JSON.stringify(enrolledAsLine(nodeId, configuredNodeId)))
    }
  })
  agent.on('refused', ({ code, message }) => {
    answered = true
    const hint = refusalHint(code, message)
    out(JSON.stringify({ event: 'tracker-refused', code, message, ...(hint === undefined ? {} : { hint }) }))
  })
  const waitMs = options.waitWarnMs ?? TRACKER_WAIT_WARN_MS
  const waitWarning = setTimeout(() => {
    if (answered) return
    out(
      JSON.stringify({
        event: 'tracker-waiting',
        trackers: options.trackers,
        message: `no tracker has answered in ${waitMs / 1000} s: is the tracker running, and is each --tracker its "channelUrl" (ws://host:port/channel)? The node keeps trying; DEBUG=dandelion:node:agent shows each failure`,
      }),
    )
  }, waitMs)
  waitWarning.unref()
  return () => clearTimeout(waitWarning)
}
