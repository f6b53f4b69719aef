/**
 * Inventory: cities, campuses, nodes and devices with free-form labels, and the binding of
 * each enrolled node to its libp2p PeerId.
 */
import { MAX_NODES } from '../constants.ts'
import { CampusInUseError, CapacityError, ConflictError, NotFoundError } from '../errors.ts'
import { checkId } from './ids.ts'
import type { Kv, Tx } from './kv.ts'

/** A city. */
export interface City {
  id: string
  name: string
}

/** A campus, in one city. */
export interface Campus {
  id: string
  city: string
  name: string
}

/** A campus node. */
export interface NodeRecord {
  id: string
  campus?: string
  labels: string[]
  /** PeerId bound at enrollment: the only identity the channel accepts for this node. */
  peerId?: string
  enrolledAt?: number
  /** When its channel last closed, or the tracker stopped while it was connected (epoch ms; advisory). */
  lastSeenAt?: number
}

/** A classroom device (lamp, player). */
export interface Device {
  id: string
  campus?: string
  node?: string
  labels: string[]
}

/** Key prefixes of the inventory in the store. */
export const INVENTORY_PREFIXES = ['city', 'campus', 'device', 'node'] as const

/** Repository of the inventory. */
export class Inventory {
  readonly cities = new Map<string, City>()
  readonly campuses = new Map<string, Campus>()
  readonly nodes = new Map<string, NodeRecord>()
  readonly devices = new Map<string, Device>()
  private readonly byPeer = new Map<string, string>()
  /**
   * Node ids in ascending order, for paged listing; built when first asked after a node was
   * added or deleted (a change to a node keeps its id), so a listing in pages costs one
   * sort per change of the node set, not one per page.
   */
  private sortedNodeIds?: string[]

  async load(kv: Kv): Promise<void> {
    for (const prefix of INVENTORY_PREFIXES)
      for await (const [k, v] of kv.entries(`${prefix}!`)) this.apply(k, v)
  }

  /** Applies one stored write (`value` undefined: a delete), as loading the store does. */
  apply(key: string, value: unknown): void {
    const bang = key.indexOf('!')
    const kind = key.slice(0, bang)
    const id = key.slice(bang + 1)
    if (kind === 'node') {
      const old = this.nodes.get(id)
      if (old?.peerId !== undefined && this.byPeer.get(old.peerId) === id) this.byPeer.delete(old.peerId)
      if (old === undefined || value === undefined) this.sortedNodeIds = undefined
      if (value === undefined) this.nodes.delete(id)
      else {
        const n = value as NodeRecord
        this.nodes.set(id, n)
        if (n.peerId !== undefined) this.byPeer.set(n.peerId, id)
      }
      return
    }
    const map = { city: this.cities, campus: this.campuses, device: this.devices }[kind as 'city'] as
      | Map<string, unknown>
      | undefined
    if (value === undefined) map?.delete(id)
    else map?.set(id, value)
  }

  /**
   * Every node id in ascending UTF-16 code unit order (JavaScript's `<` on strings; ids are
   * ASCII, so byte order too). Read-only: shared until the node set changes.
   */
  nodeIdsInOrder(): readonly string[] {
    this.sortedNodeIds ??= [...this.nodes.keys()].sort()
    return this.sortedNodeIds
  }

  /** City of a node, through its campus. */
  cityOf(node: NodeRecord): string | undefined {
    return node.campus === undefined ? undefined : this.campuses.get(node.campus)?.city
  }

  /** Node bound to a PeerId. */
  nodeByPeer(peerId: string): NodeRecord | undefined {
    const id = this.byPeer.get(peerId)
    return id === undefined ? undefined : this.nodes.get(id)
  }

  putCity(tx: Tx, city: City): void {
    checkId('city', city.id)
    this.cities.set(city.id, city)
    tx.put(`city!${city.id}`, city)
  }

  putCampus(tx: Tx, campus: Campus): void {
    checkId('campus', campus.id)
    if (!this.cities.has(campus.city)) throw new NotFoundError(`city ${campus.city}`)
    this.campuses.set(campus.id, campus)
    tx.put(`campus!${campus.id}`, campus)
  }

  putDevice(tx: Tx, device: Device): void {
    checkId('device', device.id)
    if (device.node !== undefined) checkId('node', device.node)
    if (device.campus !== undefined && !this.campuses.has(device.campus))
      throw new NotFoundError(`campus ${device.campus}`)
    this.devices.set(device.id, device)
    tx.put(`device!${device.id}`, device)
  }

  /** Creates or updates a node; its PeerId binding is kept. */
  putNode(tx: Tx, node: NodeRecord): NodeRecord {
    checkId('node', node.id)
    if (node.campus !== undefined && !this.campuses.has(node.campus))
      throw new NotFoundError(`campus ${node.campus}`)
    const old = this.nodes.get(node.id)
    if (old === undefined && this.nodes.size >= MAX_NODES) throw new CapacityError('inventory full')
    if (old === undefined) this.sortedNodeIds = undefined
    const next: NodeRecord = {
      ...node,
      peerId: old?.peerId,
      enrolledAt: old?.enrolledAt,
      lastSeenAt: old?.lastSeenAt,
    }
    this.nodes.set(node.id, next)
    tx.put(`node!${node.id}`, next)
    return next
  }

  /**
   * Binds a node to a PeerId at enrollment. A node id already bound to another PeerId, or a
   * PeerId already bound to another node, is refused: identity is never re-assigned silently.
   */
  enroll(tx: Tx, nodeId: string, peerId: string, fields: { campus?: string; labels?: string[] }): NodeRecord {
    checkId('node', nodeId)
    const owner = this.byPeer.get(peerId)
    if (owner !== undefined && owner !== nodeId)
      throw new ConflictError(`peer already enrolled as ${owner}`, 'ERR_PEER_TAKEN')
    const old = this.nodes.get(nodeId)
    if (old?.peerId !== undefined && old.peerId !== peerId)
      // the message MUST start with "node <id> is bound to another peer": the node daemon
      // (node/daemon/cli.ts) reads the id from it for its hint
      throw new ConflictError(
        `node ${nodeId} is bound to another peer (${old.peerId}), not to ${peerId}: if this machine replaces it, delete the node first (DELETE /api/v1/nodes/${nodeId}) and let this one enroll again, or restore the old machine's key here; otherwise enroll it under another node id`,
        'ERR_NODE_TAKEN',
      )
    if (old === undefined && this.nodes.size >= MAX_NODES) throw new CapacityError('inventory full')
    const campus = old?.campus ?? fields.campus
    if (campus !== undefined && !this.campuses.has(campus)) throw new NotFoundError(`campus ${campus}`)
    if (old === undefined) this.sortedNodeIds = undefined
    const next: NodeRecord = {
      id: nodeId,
      campus,
      labels: old?.labels ?? fields.labels ?? [],
      peerId,
      enrolledAt: old?.enrolledAt ?? Date.now(),
      lastSeenAt: old?.lastSeenAt,
    }
    this.nodes.set(nodeId, next)
    this.byPeer.set(peerId, nodeId)
    tx.put(`node!${nodeId}`, next)
    return next
  }

  /** Records that a node's channel closed at `at` (`lastSeenAt`). */
  seen(tx: Tx, nodeId: string, at: number): void {
    const old = this.nodes.get(nodeId)
    if (old === undefined) return
    const next: NodeRecord = { ...old, lastSeenAt: at }
    this.nodes.set(nodeId, next)
    tx.put(`node!${nodeId}`, next)
  }

  delete(tx: Tx, kind: 'city' | 'campus' | 'node' | 'device', id: string): void {
    const map = { city: this.cities, campus: this.campuses, node: this.nodes, device: this.devices }[kind]
    const old = map.get(id)
    if (old === undefined) throw new NotFoundError(`${kind} ${id}`)
    if (kind === 'city' && [...this.campuses.values()].some((c) => c.city === id))
      throw new ConflictError(`city ${id} still has campuses`)
    if (kind === 'campus') {
      // A campus in use MUST NOT be deleted: its nodes and devices would keep referring to
      // it, and a node pre-registered in it could never enroll.
      const nodes = [...this.nodes.values()].filter((n) => n.campus === id).length
      const devices = [...this.devices.values()].filter((d) => d.campus === id).length
      if (nodes > 0 || devices > 0) throw new CampusInUseError(id, nodes, devices)
    }
    if (kind === 'node' && (old as NodeRecord).peerId !== undefined)
      this.byPeer.delete((old as NodeRecord).peerId!)
    if (kind === 'node') this.sortedNodeIds = undefined
    map.delete(id)
    tx.del(`${kind}!${id}`)
  }
}
