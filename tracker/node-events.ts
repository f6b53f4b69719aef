/**
 * Events of the nodes for dashboards (`GET /api/v1/events/nodes`, SSE): a node enrolled, its
 * channel opened or closed, an operator changed, released or deleted it. Announced once what
 * they say is committed (a connection is not written; it is announced as it happens). Apart
 * from the release events: 5,000 nodes reconnecting after a restart would push every release
 * event out of their replay ring.
 */
import { EventEmitter } from 'node:events'
import { logger } from '@libp2p/logger'

const log = logger('dandelion:tracker:node-events')

/** One event of a node. */
export interface NodeEvent {
  type:
    | 'node.enrolled'
    | 'node.connected'
    | 'node.disconnected'
    | 'node.changed'
    | 'node.unbound'
    | 'node.deleted'
  nodeId: string
  at: number
  [k: string]: unknown
}

/** Where node events are announced; the SSE hub of node events listens. */
export class NodeEvents extends EventEmitter<{ event: [NodeEvent] }> {
  /** Announces `e` now; a listener that throws does not reach the caller. */
  announce(e: Omit<NodeEvent, 'at'>): void {
    try {
      this.emit('event', { ...e, at: Date.now() } as NodeEvent)
    } catch (err) {
      log.error('node event listener threw: %e', err)
    }
  }
}
