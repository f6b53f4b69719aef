/** Where the walkthrough puts its nodes: two cities, three campuses, round robin. */

/** Cities of the walkthrough's inventory. */
export const CITIES = [
  { id: 'bj', name: 'Beijing' },
  { id: 'sh', name: 'Shanghai' },
] as const

/** Campuses of the walkthrough's inventory. */
export const CAMPUSES = [
  { id: 'bj-1', city: 'bj', name: 'Beijing No. 1 School' },
  { id: 'bj-2', city: 'bj', name: 'Beijing No. 2 School' },
  { id: 'sh-1', city: 'sh', name: 'Shanghai No. 1 School' },
] as const

/** One node daemon of the walkthrough; `api` and `multiaddr` are filled once it is ready. */
export interface WalkthroughNode {
  nodeId: string
  role: 'campus' | 'device'
  campus: string
  city: string
  api?: string
  multiaddr?: string
}

/** `campusNodes` campus nodes round robin over the campuses, then the devices likewise. */
export function planNodes(campusNodes: number, devices: number): WalkthroughNode[] {
  const nodes: WalkthroughNode[] = []
  for (let i = 0; i < campusNodes + devices; i++) {
    const role = i < campusNodes ? 'campus' : 'device'
    const j = role === 'campus' ? i : i - campusNodes
    const c = CAMPUSES[j % CAMPUSES.length]
    const n = Math.floor(j / CAMPUSES.length) + 1
    nodes.push({
      nodeId: role === 'campus' ? `${c.id}-n${n}` : `${c.id}-lamp${n}`,
      role,
      campus: c.id,
      city: c.city,
    })
  }
  return nodes
}
