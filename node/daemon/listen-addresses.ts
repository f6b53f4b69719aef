/**
 * The addresses a node daemon listens on, and the transports they need.
 *
 * By default a daemon listens on TCP port 4001 over IPv4 and IPv6 (campus networks, China's
 * education network among them, hand out IPv6 addresses, and a lamp may have only those), and a
 * campus node started with `--webrtc` on UDP port 4001 for WebRTC-Direct too, so lamps behind
 * NAT reach it without an operator knowing which multiaddr to write. A machine without IPv6
 * still starts: libp2p skips the IPv6 addresses when every IPv4 one listens, and the daemon
 * says which configured address has nothing listening ({@link unheardAddresses}).
 */
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import { InvalidConfigError } from '../errors.ts'
import { CONFIG_DEFAULTS } from './config-schema.ts'
import { settingName } from './config-sources.ts'

/** The port the daemon listens on by default, TCP and (WebRTC-Direct) UDP alike. */
export const DEFAULT_P2P_PORT = 4001

/** TCP on every IPv4 and IPv6 address (the setting's default). */
export const DEFAULT_TCP_LISTEN: readonly string[] = Object.freeze([...CONFIG_DEFAULTS.listen])

/** WebRTC-Direct (UDP) on every IPv4 and IPv6 address: what lamps behind NAT dial. */
export const DEFAULT_WEBRTC_LISTEN: readonly string[] = Object.freeze([
  `/ip4/0.0.0.0/udp/${DEFAULT_P2P_PORT}/webrtc-direct`,
  `/ip6/::/udp/${DEFAULT_P2P_PORT}/webrtc-direct`,
])

/** The settings these rules read. */
export interface ListenSettings {
  role: 'campus' | 'device'
  webrtc: boolean
  listen: readonly string[]
  bootstrap: readonly string[]
}

/**
 * The listen addresses of a daemon whose settings name none: TCP on both address families,
 * and for a campus node with WebRTC on, WebRTC-Direct too (a device only dials out).
 */
export function defaultListen(role: ListenSettings['role'], webrtc: boolean): string[] {
  return role === 'campus' && webrtc
    ? [...DEFAULT_TCP_LISTEN, ...DEFAULT_WEBRTC_LISTEN]
    : [...DEFAULT_TCP_LISTEN]
}

const isWebRTCDirect = (addr: string): boolean => addr.includes('/webrtc-direct')

/**
 * Refuses settings whose addresses need a transport that is off, or that leave a transport
 * on with nothing to do. Before, a `/webrtc-direct` listen address without `--webrtc` failed
 * at start with libp2p's "no transport" for every address, and a WebRTC-Direct bootstrap
 * address without it was only a dial failing at debug level: the lamp ran alone, silently.
 * @param listenSet whether the operator named the listen addresses (else they are the defaults)
 * @throws InvalidConfigError naming the settings to change (the command exits 2)
 */
export function checkListenTransports(s: ListenSettings, listenSet: boolean): void {
  if (!s.webrtc) {
    const listen = s.listen.find(isWebRTCDirect)
    if (listen !== undefined)
      throw new InvalidConfigError(
        `invalid node config: listen address ${listen} is WebRTC-Direct, but WebRTC is off: add --webrtc ` +
          `(${settingName('webrtc')}), or drop that address (${settingName('listen')})`,
      )
    const bootstrap = s.bootstrap.find(isWebRTCDirect)
    if (bootstrap !== undefined)
      throw new InvalidConfigError(
        `invalid node config: bootstrap address ${bootstrap} is WebRTC-Direct, but WebRTC is off, so it ` +
          `could never be dialed: add --webrtc (${settingName('webrtc')}), or give the peer's TCP address ` +
          `(${settingName('bootstrap')})`,
      )
  }
  if (s.webrtc && s.role === 'campus' && listenSet && !s.listen.some(isWebRTCDirect))
    throw new InvalidConfigError(
      'invalid node config: --webrtc is on, but no listen address is WebRTC-Direct, so no lamp could ' +
        `connect over it: add --listen ${DEFAULT_WEBRTC_LISTEN[0]} (and ${DEFAULT_WEBRTC_LISTEN[1]} for IPv6) ` +
        `to the listen addresses (${settingName('listen')}), or leave them all unset for the defaults`,
    )
}

/** What an address listens on, to match it with the addresses a listener announces. */
interface Socket {
  family: 'ip4' | 'ip6'
  transport: 'tcp' | 'webrtc-direct' | 'other'
  /** 0: any port. */
  port: number
}

function socketOf(addr: Multiaddr): Socket | undefined {
  const parts = addr.getComponents()
  const family = parts[0]?.name
  if (family !== 'ip4' && family !== 'ip6') return undefined
  const carrier = parts[1]
  if (carrier === undefined || (carrier.name !== 'tcp' && carrier.name !== 'udp')) return undefined
  const transport =
    carrier.name === 'tcp' ? 'tcp' : parts.some((p) => p.name === 'webrtc-direct') ? 'webrtc-direct' : 'other'
  return { family, transport, port: Number(carrier.value) }
}

/**
 * The configured listen addresses nothing listens on once the node started: what libp2p
 * skipped without failing the start (IPv6 on a machine without it, or its port taken on that
 * family alone). Addresses it cannot match (DNS names, other transports) are not reported.
 * @param announced the node's multiaddrs after start
 */
export function unheardAddresses(configured: readonly string[], announced: readonly Multiaddr[]): string[] {
  const heard = announced.map(socketOf).filter((s): s is Socket => s !== undefined)
  return configured.filter((text) => {
    const want = socketOf(multiaddr(text))
    if (want === undefined || want.transport === 'other') return false
    return !heard.some(
      (h) =>
        h.family === want.family &&
        h.transport === want.transport &&
        (want.port === 0 || h.port === want.port),
    )
  })
}
