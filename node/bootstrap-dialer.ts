/**
 * Keeps a node connected to its bootstrap peers: each is dialled at start, and again every
 * {@link BOOTSTRAP_REDIAL_MS} while it is not connected (a peer restarted, a link that
 * dropped), so a campus node finds its way back to the origin's seeding node by itself.
 */
import type { Libp2p, Logger } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import { withDeadline } from './swarm/deadline.ts'

/** How often bootstrap peers not connected are dialled again. */
const BOOTSTRAP_REDIAL_MS = 10_000
/** One dial that takes longer fails (it is made again at the next round). */
const BOOTSTRAP_DIAL_TIMEOUT_MS = 10_000

/** What {@link BootstrapDialer} uses. */
export interface BootstrapDialerComponents {
  libp2p: Pick<Libp2p, 'dial' | 'getConnections'>
  log: Logger
}

/** Options of {@link BootstrapDialer}. */
export interface BootstrapDialerInit {
  /** Multiaddrs ending in `/p2p/<id>` (without it, dialled every round). @default none */
  bootstrap?: readonly string[]
}

/** See the module comment. */
export class BootstrapDialer {
  private readonly c: BootstrapDialerComponents
  private readonly bootstrap: readonly string[]
  private timer?: ReturnType<typeof setInterval>

  constructor(components: BootstrapDialerComponents, init: BootstrapDialerInit = {}) {
    this.c = components
    this.bootstrap = init.bootstrap ?? []
  }

  /** Dials now, then every {@link BOOTSTRAP_REDIAL_MS} until {@link stop}. */
  start(): void {
    this.dialAll()
    this.timer = setInterval(() => this.dialAll(), BOOTSTRAP_REDIAL_MS)
    this.timer.unref()
  }

  stop(): void {
    clearInterval(this.timer)
  }

  private dialAll(): void {
    const { libp2p, log } = this.c
    for (const addr of this.bootstrap) {
      const ma = multiaddr(addr)
      const id = ma.getComponents().find((c) => c.name === 'p2p')?.value
      if (id !== undefined && libp2p.getConnections().some((c) => c.remotePeer.toString() === id)) continue
      withDeadline(BOOTSTRAP_DIAL_TIMEOUT_MS, async (signal) => await libp2p.dial(ma, { signal })).catch(
        (err: Error) => log('bootstrap %s: %s', addr, err.message),
      )
    }
  }
}
