/**
 * Configuration of the node daemon: from a JSON file, then `DANDELION_*` environment
 * variables, then flags (later wins), validated as a whole against a schema that rejects
 * unknown keys, then frozen. The settings and their schema are in `config-schema.ts`, the
 * file, variables and flags they are read from in `config-sources.ts`.
 */

import { publicKeyFromProtobuf } from '@libp2p/crypto/keys'
import type { PublicKey } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { isTrackerId } from '../agent/tracker-auth.ts'
import { InvalidConfigError } from '../errors.ts'
import { parseSchedule } from '../limiter/schedule.ts'
import { CONFIG_DEFAULTS, type NodeConfig, unknownSetting, validateConfig } from './config-schema.ts'
import { settingName } from './config-sources.ts'
import { checkListenTransports, defaultListen } from './listen-addresses.ts'

export { CONFIG_DEFAULTS, type NodeConfig } from './config-schema.ts'

/**
 * The daemon was given no origin key to trust and was not told to trust any: it would
 * accept manifests signed by anyone. Matched by `name`; `code` stays `ERR_INVALID_CONFIG`
 * (a configuration error: the command exits 2).
 */
export class NoTrustedOriginError extends InvalidConfigError {
  override name = 'NoTrustedOriginError'
  constructor() {
    super(
      'no trusted origin key: set --trusted-origin KEY (repeatable), DANDELION_TRUSTED_ORIGINS ' +
        '(comma-separated) or "trustedOrigins" in the config file to the public key of each origin ' +
        'whose manifests this node may fetch (the "origin key" line of the origin\'s banner, or its ' +
        'base64 protobuf); --trust-any-origin (DANDELION_TRUST_ANY_ORIGIN, "trustAnyOrigin") accepts ' +
        'any signer, for labs only',
    )
  }
}

/** Merges the layers, validates the whole, and returns a frozen copy. */
export function resolveConfig(...layers: Array<Partial<NodeConfig>>): Readonly<NodeConfig> {
  const merged: Record<string, unknown> = { ...CONFIG_DEFAULTS }
  for (const layer of layers) for (const [k, v] of Object.entries(layer)) if (v !== undefined) merged[k] = v
  const listenSet = layers.some((l) => l.listen !== undefined)
  if (!listenSet) merged.listen = defaultListen(merged.role as NodeConfig['role'], merged.webrtc === true)
  if (!validateConfig(merged)) {
    const why = (validateConfig.errors ?? []).map((e) => {
      // a missing setting has no path of its own: name it after the property it lacks
      const key = e.instancePath.split('/')[1] ?? (e.params as { missingProperty?: string }).missingProperty
      const where = key === undefined ? '' : ` (${settingName(key)})`
      const extra =
        e.params && 'additionalProperty' in e.params
          ? ` (${unknownSetting(String(e.params.additionalProperty))})`
          : ''
      return `${e.instancePath || '/'} ${e.message ?? ''}${extra}${where}`
    })
    throw new InvalidConfigError(`invalid node config: ${why.join('; ')}`)
  }
  checkMultiaddrs(merged.listen as string[], 'listen', false)
  checkMultiaddrs(merged.bootstrap as string[], 'bootstrap', true)
  checkListenTransports(merged as unknown as NodeConfig, listenSet)
  try {
    parseSchedule(merged.originLimitSchedule as string[])
  } catch (err) {
    throw new InvalidConfigError(
      `invalid node config: ${(err as Error).message} (${settingName('originLimitSchedule')})`,
    )
  }
  // without a trusted key every validly signed manifest is accepted, whoever signed it: the
  // daemon must be told which origins to trust, or told explicitly to trust any
  const trusted = (merged.trustedOrigins as string[]).length
  if (trusted === 0 && merged.trustAnyOrigin !== true) throw new NoTrustedOriginError()
  if (trusted > 0 && merged.trustAnyOrigin === true)
    throw new InvalidConfigError(
      'trustedOrigins and trustAnyOrigin are both set: drop --trust-any-origin ' +
        '(DANDELION_TRUST_ANY_ORIGIN, "trustAnyOrigin") to trust only the listed origin keys',
    )
  for (const id of merged.trackerIds as string[])
    if (!isTrackerId(id))
      throw new InvalidConfigError(
        `tracker id ${JSON.stringify(id.slice(0, 80))} is not an ed25519 PeerId (${settingName('trackerIds')}): use the "trackerId" the tracker prints at start`,
      )
  for (const url of merged.trackers as string[]) checkTrackerUrl(url)
  const frozen = {
    ...merged,
    listen: Object.freeze([...(merged.listen as string[])]),
    bootstrap: Object.freeze([...(merged.bootstrap as string[])]),
    trustedOrigins: Object.freeze([...(merged.trustedOrigins as string[])]),
    trackers: Object.freeze([...(merged.trackers as string[])]),
    trackerIds: Object.freeze([...(merged.trackerIds as string[])]),
    labels: Object.freeze([...(merged.labels as string[])]),
    originLimitSchedule: Object.freeze([...(merged.originLimitSchedule as string[])]),
  }
  return Object.freeze(frozen) as unknown as Readonly<NodeConfig>
}

/**
 * Settings only the tracker agent reads need a tracker to run it: `--tracker-id` without
 * `--tracker` was silently ignored, the operator believing the node obeyed only that key.
 * The daemon checks this at start; {@link resolveConfig} checks each value on its own
 * (a tracker id alone is well formed).
 * @throws InvalidConfigError naming both settings (the command exits 2)
 */
export function checkAgentSettings(config: Readonly<NodeConfig>): void {
  if (config.trackerIds.length > 0 && config.trackers.length === 0)
    throw new InvalidConfigError(
      `invalid node config: a tracker id is set (${settingName('trackerIds')}) but no tracker (${settingName('trackers')}): ` +
        'without a tracker the node runs no agent and the id is not used; add the tracker\'s "channelUrl" with --tracker, or drop --tracker-id',
    )
}

/**
 * A tracker URL must name the command channel's path: the tracker serves no channel at
 * `/`, and the agent retried `ws://host:7070` (its `url`, not its `channelUrl`) for ever,
 * logging each failure at debug level only.
 */
function checkTrackerUrl(url: string): void {
  let path: string | undefined
  try {
    path = new URL(url).pathname
  } catch (err) {
    throw new InvalidConfigError(
      `invalid node config: tracker URL ${JSON.stringify(url)}: ${(err as Error).message} (${settingName('trackers')})`,
    )
  }
  if (path === '/' || path === '')
    throw new InvalidConfigError(
      `invalid node config: tracker URL ${JSON.stringify(url)} names no path: the command channel is at ` +
        `${url.replace(/\/*$/, '')}/channel, the "channelUrl" the tracker prints (${settingName('trackers')})`,
    )
}

/**
 * Listen and bootstrap addresses must parse, and a bootstrap address must end in a valid
 * peer id: libp2p refused a bad listen address with a bare "Protocol foo was unknown", and
 * a bad bootstrap address only failed each dial, logged at debug level, so the node ran
 * alone without a word.
 */
function checkMultiaddrs(addrs: string[], key: 'listen' | 'bootstrap', needsPeer: boolean): void {
  addrs.forEach((text, i) => {
    let why: string | undefined
    let p2p: string | undefined
    try {
      p2p = multiaddr(text)
        .getComponents()
        .find((c) => c.name === 'p2p')?.value
    } catch (err) {
      why = (err as Error).message
    }
    if (why === undefined && needsPeer) {
      if (p2p === undefined) why = 'has no /p2p/<peer id>'
      else
        try {
          peerIdFromString(p2p)
        } catch {
          why = `${JSON.stringify(p2p)} is not a peer id`
        }
    }
    if (why !== undefined)
      throw new InvalidConfigError(
        `invalid node config: /${key}/${i} ${JSON.stringify(text)}: ${why} (${settingName(key)})`,
      )
  })
}

/**
 * An origin key from the config: the base64 protobuf public key, or the PeerId the origin
 * prints (an Ed25519 PeerId embeds its public key). Manifests are signed with Ed25519.
 */
export function parseOriginKey(text: string): PublicKey {
  let key: PublicKey | undefined
  try {
    key = publicKeyFromProtobuf(Buffer.from(text, 'base64'))
  } catch {
    try {
      key = peerIdFromString(text).publicKey
    } catch {}
  }
  if (key?.type !== 'Ed25519')
    throw new InvalidConfigError(
      `trusted origin key ${JSON.stringify(text.slice(0, 80))} is neither an Ed25519 public key ` +
        '(base64 protobuf) nor an origin PeerId (--trusted-origin, DANDELION_TRUSTED_ORIGINS, "trustedOrigins")',
    )
  return key
}
