/**
 * Inventory: cities, campuses, nodes and devices with free-form labels, and the binding of
 * each enrolled node to its libp2p PeerId.
 */
import { MAX_NODES, MAX_UNBOUND_PEERS_PER_NODE } from '../constants.ts'
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
  /**
   * When its PeerId binding was last released (`DELETE /nodes/:id/peer`, epoch ms): what the
   * tracker knew of the machine before (what it runs, its outcomes in releases) is that
   * machine's, not the one enrolled since (`rollout/reconcile.ts`).
   */
  unboundAt?: number
  /**
   * PeerIds released from this node, oldest first (at most `MAX_UNBOUND_PEERS_PER_NODE`): a
   * hello from one of them without enrollment is refused as such (`ERR_PEER_UNBOUND`), not
   * as unknown: an agent told `ERR_NOT_ENROLLED` enrolls again by itself, and would take the
   * freed id back before its replacement.
   */
  unboundPeers?: string[]
  /** The software version its last hello reported (absent: never reported, an older agent). */
  version?: string
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
  /** PeerId → the node it was released from (its last one, if several). */
  private readonly byUnboundPeer = new Map<string, string>()
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
      if (old !== undefined) this.unindex(old)
      if (old === undefined || value === undefined) this.sortedNodeIds = undefined
      if (value === undefined) this.nodes.delete(id)
      else {
        const n = value as NodeRecord
        this.nodes.set(id, n)
        this.index(n)
      }
      return
    }
    const map = { city: this.cities, campus: this.campuses, device: this.devices }[kind as 'city'] as
      | Map<string, unknown>
      | undefined
    if (value === undefined) map?.delete(id)
    else map?.set(id, value)
  }

  private index(n: NodeRecord): void {
    if (n.peerId !== undefined) this.byPeer.set(n.peerId, n.id)
    for (const p of n.unboundPeers ?? []) this.byUnboundPeer.set(p, n.id)
  }

  private unindex(n: NodeRecord): void {
    if (n.peerId !== undefined && this.byPeer.get(n.peerId) === n.id) this.byPeer.delete(n.peerId)
    for (const p of n.unboundPeers ?? []) if (this.byUnboundPeer.get(p) === n.id) this.byUnboundPeer.delete(p)
  }

  /** Writes `next` as node `next.id`, in memory (with its indexes) and in `tx`. */
  private write(tx: Tx, next: NodeRecord): void {
    const old = this.nodes.get(next.id)
    if (old !== undefined) this.unindex(old)
    else this.sortedNodeIds = undefined
    this.nodes.set(next.id, next)
    this.index(next)
    tx.put(`node!${next.id}`, next)
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

  /**
   * The node a PeerId was released from (`DELETE /nodes/:id/peer`) and is not bound to
   * again; undefined for a PeerId bound now, or never released.
   */
  unboundFrom(peerId: string): string | undefined {
    return this.byPeer.has(peerId) ? undefined : this.byUnboundPeer.get(peerId)
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
    const next: NodeRecord = {
      ...node,
      peerId: old?.peerId,
      enrolledAt: old?.enrolledAt,
      lastSeenAt: old?.lastSeenAt,
      unboundAt: old?.unboundAt,
      unboundPeers: old?.unboundPeers,
      version: old?.version,
    }
    this.write(tx, next)
    return next
  }

  /**
   * Binds a node to a PeerId at enrollment. A node id already bound to another PeerId, or a
   * PeerId already bound to another node, is refused: identity is never re-assigned silently.
   * A node whose binding was released ({@link unbind}) is bound by the first enrollment
   * that comes, whichever machine it is from.
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
        `node ${nodeId} is bound to another peer (${old.peerId}), not to ${peerId}: if this machine replaces it, release the old machine's binding (DELETE /api/v1/nodes/${nodeId}/peer; the node keeps its campus, labels and releases) and this one enrolls on its next connection, or restore the old machine's key here; otherwise enroll it under another node id`,
        'ERR_NODE_TAKEN',
      )
    if (old === undefined && this.nodes.size >= MAX_NODES) throw new CapacityError('inventory full')
    const campus = old?.campus ?? fields.campus
    if (campus !== undefined && !this.campuses.has(campus)) throw new NotFoundError(`campus ${campus}`)
    const unboundPeers = old?.unboundPeers?.filter((p) => p !== peerId)
    const next: NodeRecord = {
      id: nodeId,
      campus,
      labels: old?.labels ?? fields.labels ?? [],
      peerId,
      enrolledAt: old?.enrolledAt ?? Date.now(),
      lastSeenAt: old?.lastSeenAt,
      unboundAt: old?.unboundAt,
      unboundPeers: unboundPeers?.length === 0 ? undefined : unboundPeers,
    }
    this.write(tx, next)
    return next
  }

  /**
   * Releases a node's PeerId binding (its machine was replaced), keeping everything else;
   * the released PeerId is remembered (see {@link NodeRecord.unboundPeers}). Returns the
   * node and the PeerId released, none if it was not bound (nothing is then written).
   */
  unbind(tx: Tx, nodeId: string, now = Date.now()): { node: NodeRecord; peerId?: string } {
    const old = this.nodes.get(nodeId)
    if (old === undefined) throw new NotFoundError(`node ${nodeId}`)
    if (old.peerId === undefined) return { node: old }
    const { peerId: released, ...rest } = old
    const unboundPeers = [...(old.unboundPeers ?? []).filter((p) => p !== released), released].slice(
      -MAX_UNBOUND_PEERS_PER_NODE,
    )
    const next: NodeRecord = { ...rest, unboundAt: now, unboundPeers }
    this.write(tx, next)
    return { node: next, peerId: released }
  }

  /** Records the software version a node's hello reported, if it changed. */
  reportVersion(tx: Tx, nodeId: string, version: string): void {
    const old = this.nodes.get(nodeId)
    if (old === undefined || old.version === version) return
    this.write(tx, { ...old, version })
  }

  /** Records that a node's channel closed at `at` (`lastSeenAt`). */
  seen(tx: Tx, nodeId: string, at: number): void {
    const old = this.nodes.get(nodeId)
    if (old === undefined) return
    this.write(tx, { ...old, lastSeenAt: at })
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
    if (kind === 'node') {
      this.unindex(old as NodeRecord)
      this.sortedNodeIds = undefined
    }
    map.delete(id)
    tx.del(`${kind}!${id}`)
  }
}
