/**
 * The `dandelion node` command (`fetch` and `limits`, which talk to a running daemon, are
 * in `api-commands.ts`).
 *
 * `dandelion node --data DIR [--campus C] [--city Y] [--bootstrap ADDR]... [--origin URL]
 * [--tracker URL]... ...` runs a node daemon (and, with trackers, its tracker agent) until
 * SIGTERM/SIGINT (graceful stop: agent, then node).
 */
import { access, constants, mkdir, readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import {
  generateKeyPair,
  privateKeyFromProtobuf,
  privateKeyToProtobuf,
  publicKeyFromProtobuf,
} from '@libp2p/crypto/keys'
import type { PrivateKey, PublicKey } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { loadOrCreateToken } from '../api-token.ts'
import { InvalidConfigError } from '../errors.ts'
import { createNode } from '../index.ts'
import {
  coerce,
  ENV_KEYS,
  FLAG_KEYS,
  fromEnv,
  fromFile,
  type NodeConfig,
  resolveConfig,
  SWITCH_KEYS,
  settingName,
} from './config.ts'
import { startTrackerAgent } from './tracker-agent.ts'

/** The file in the data directory that holds the generated API token. */
export const API_TOKEN_FILE = 'api-token'

/** Where a command writes and what stops it (tests pass their own). */
export interface CommandIo {
  env?: NodeJS.ProcessEnv
  stdout?: (line: string) => void
  /** Where warnings go. @default process.stderr */
  stderr?: (line: string) => void
  /** Stops the daemon like SIGTERM would. @default SIGTERM and SIGINT */
  signal?: AbortSignal
}

export const NODE_HELP = `usage: dandelion node --data DIR [options]

  --data DIR              store, names and identity key (DANDELION_DATA)
  --role campus|device    (DANDELION_ROLE, default campus)
  --campus NAME --city NAME
  --listen MULTIADDR      repeatable (default /ip4/0.0.0.0/tcp/4001)
  --bootstrap MULTIADDR   repeatable, ends in /p2p/<id> (DANDELION_BOOTSTRAP, comma-separated)
  --origin URL            origin for the HTTP fallback (DANDELION_ORIGIN)
  --trusted-origin KEY    origin public key whose manifests are accepted, repeatable; required
                          (DANDELION_TRUSTED_ORIGINS, comma-separated): the PeerId the origin
                          prints as "origin key", or its base64 protobuf public key
  --trust-any-origin      accept manifests signed by any key (DANDELION_TRUST_ANY_ORIGIN): for labs
                          only, anyone who reaches the playback port can make the node serve
                          content they signed
  --playback-host H --playback-port N   local HTTP API and player (default 127.0.0.1:8090)
  --api-token TOKEN       bearer token for placing content (POST /fetch; DANDELION_API_TOKEN,
                          default: generated and kept in DIR/api-token)
  --upload-limit B/S --download-limit B/S --origin-limit B/S --quota-bytes N --hash-workers N
  --mdns --no-dht --webrtc
  --no-direct-io          write received chunks through the page cache (DANDELION_DIRECT_IO=false;
                          default: direct I/O where the file system has it)
  --tracker URL           tracker command channel, ws(s)://host:port/channel; repeatable, tried in
                          order with failover (DANDELION_TRACKERS, comma-separated); runs the agent
  --tracker-id PEERID     the tracker key to obey (its "trackerId"); repeatable (DANDELION_TRACKER_IDS).
                          Without it the first tracker that proves its key is pinned in DIR/agent
  --enroll-token TOKEN    enrollment token for the first connection (DANDELION_ENROLLMENT_TOKEN)
  --node-id ID            id in the tracker's inventory (DANDELION_NODE_ID,
                          default <campus>-<end of the PeerId>)
  --labels a,b            labels sent at enrollment (DANDELION_LABELS)
  --config FILE           JSON file with the same keys (camelCase); unknown keys are rejected
  --help
Every flag has a DANDELION_* variable; flags win over variables, variables over the file.
A setting that cannot be used (a bad value, a port in use, a data directory another daemon
has open) exits 2, naming it.
`

/** Runs the node daemon; resolves once it has stopped. */
export async function runNodeCommand(argv: string[], io: CommandIo = {}): Promise<void> {
  const out = io.stdout ?? ((l: string) => process.stdout.write(`${l}\n`))
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> = {
    config: { type: 'string' },
    help: { type: 'boolean' },
  }
  for (const flag of Object.keys(SWITCH_KEYS)) options[flag] = { type: 'boolean' }
  for (const flag of Object.keys(FLAG_KEYS))
    options[flag] = {
      type: 'string',
      multiple: ['listen', 'bootstrap', 'trusted-origin', 'tracker', 'labels'].includes(flag),
    }
  const { values } = parseArgs({ args: argv, options, strict: true, allowPositionals: false })
  if (values.help === true) {
    out(NODE_HELP)
    return
  }
  const env = io.env ?? process.env
  const configPath = (values.config as string | undefined) ?? env.DANDELION_CONFIG
  const flags: Record<string, unknown> = {}
  for (const [flag, key] of Object.entries(FLAG_KEYS)) {
    const v = values[flag]
    if (v === undefined) continue
    flags[key] = Array.isArray(v)
      ? v.flatMap((x) => coerce(key, x as string) as string[])
      : coerce(key, v as string)
  }
  // a switch turns its setting on, a --no-* switch turns it off
  for (const [flag, key] of Object.entries(SWITCH_KEYS))
    if (values[flag] === true) flags[key] = !flag.startsWith('no-')
  const config = resolveConfig(
    configPath === undefined ? {} : await fromFile(configPath),
    fromEnv(env),
    flags as Partial<NodeConfig>,
  )

  const trustedOrigins = config.trustedOrigins.map(parseOriginKey)
  if (config.trustAnyOrigin) {
    const warn = io.stderr ?? ((l: string) => process.stderr.write(`${l}\n`))
    warn(
      'WARNING: --trust-any-origin: this node accepts manifests signed by ANY key; anyone who can ' +
        'reach its playback port can make it fetch, store, re-seed and serve their own content. ' +
        'For labs only: set --trusted-origin KEY instead.',
    )
  }
  await prepareDataDir(config.data)
  const privateKey = await loadOrCreateKey(join(config.data, 'peer.key'))
  const apiToken = config.apiToken ?? (await loadOrCreateToken(join(config.data, API_TOKEN_FILE)))
  const node = await createNode({
    role: config.role,
    campus: config.campus,
    city: config.city,
    dataDir: config.data,
    privateKey,
    listen: [...config.listen],
    bootstrap: [...config.bootstrap],
    originUrl: config.origin,
    // undefined (any signer) only when the operator opted out: resolveConfig refuses an
    // empty list otherwise
    trustedOrigins: config.trustAnyOrigin ? undefined : trustedOrigins,
    mdns: config.mdns,
    dht: config.dht,
    webrtc: config.webrtc,
    quotaBytes: config.quotaBytes,
    hashWorkers: config.hashWorkers,
    directIo: config.directIo,
    limits: {
      uploadBytesPerSecond: config.uploadLimit,
      downloadBytesPerSecond: config.downloadLimit,
      originBytesPerSecond: config.originLimit,
    },
    playback: { host: config.playbackHost, port: config.playbackPort, apiToken },
  })
  try {
    await node.start()
  } catch (err) {
    // Whatever started before the failure (libp2p's listeners, the store) is stopped: until
    // session 14 a playback port in use left them running, and the daemon, its SIGTERM
    // handler already spent on a wait it never reached, printed the error and never exited.
    await node.stop().catch(() => {})
    throw startError(err, config)
  }
  let tracker: Awaited<ReturnType<typeof startTrackerAgent>>
  try {
    tracker = await startTrackerAgent({ node, privateKey }, config, join(config.data, 'agent'))
  } catch (err) {
    await node.stop()
    throw err
  }
  tracker?.agent.on('connected', ({ url, nodeId }) => out(JSON.stringify({ event: 'tracker', url, nodeId })))
  tracker?.agent.on('refused', ({ code, message }) =>
    out(JSON.stringify({ event: 'tracker-refused', code, message })),
  )
  out(
    JSON.stringify({
      event: 'ready',
      pid: process.pid,
      peerId: node.peerId.toString(),
      multiaddrs: node.multiaddrs.map(String),
      api: node.playbackUrl,
      ...(config.trustAnyOrigin ? { trustAnyOrigin: true } : {}),
      ...(tracker === undefined ? {} : { nodeId: tracker.nodeId }),
    }),
  )
  await new Promise<void>((resolve) => {
    if (io.signal !== undefined) {
      if (io.signal.aborted) resolve()
      io.signal.addEventListener('abort', () => resolve(), { once: true })
      return
    }
    process.once('SIGTERM', () => resolve())
    process.once('SIGINT', () => resolve())
  })
  // the agent first: no command may start on a node that is shutting down
  await tracker?.agent.stop()
  await node.stop()
  out(JSON.stringify({ event: 'stopped' }))
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

/**
 * The daemon's libp2p identity, kept in `path` (mode 0600). Created exclusively: of two
 * daemons started at once on a new directory, the one that loses the race reads the
 * winner's key instead of overwriting it (and then finds the directory in use).
 */
async function loadOrCreateKey(path: string): Promise<PrivateKey> {
  for (;;) {
    let bytes: Uint8Array | undefined
    try {
      bytes = await readFile(path)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw dataFileError(path, err)
    }
    if (bytes !== undefined) {
      try {
        return privateKeyFromProtobuf(bytes)
      } catch (err) {
        // never replaced: it is this node's identity (peers, tracker enrollment know it)
        throw dataFileError(
          path,
          new Error(
            `not a private key (${(err as Error).message}); restore it from a backup, or delete it to give this node a new identity`,
          ),
        )
      }
    }
    const key = await generateKeyPair('Ed25519')
    try {
      await writeFile(path, privateKeyToProtobuf(key), { mode: 0o600, flag: 'wx' })
      return key
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw dataFileError(path, err)
    }
  }
}

/**
 * The data directory cannot be used: not a directory, cannot be created or written, or a
 * file in it cannot be read. Matched by `name`; a configuration error (exit 2).
 */
export class DataDirError extends InvalidConfigError {
  override name = 'DataDirError'
}

/** A file of the data directory that cannot be read or written. */
function dataFileError(path: string, cause: unknown): DataDirError {
  return new DataDirError(`cannot use ${path} (${settingName('data')}): ${(cause as Error).message}`)
}

/** Another daemon runs on the same data directory. Matched by `name`; exit 2. */
export class DataDirInUseError extends InvalidConfigError {
  override name = 'DataDirInUseError'
  constructor(dir: string) {
    super(
      `data directory ${dir} is in use by another node daemon: stop it first, or give this one its own ${settingName('data')}`,
    )
  }
}

/** An address the daemon was told to listen on cannot be used (in use, not local). Exit 2. */
export class ListenAddressError extends InvalidConfigError {
  override name = 'ListenAddressError'
}

/** Creates the data directory, and fails clearly where it is no writable directory. */
async function prepareDataDir(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true })
    if (!(await stat(dir)).isDirectory()) throw new Error('not a directory')
    await access(dir, constants.W_OK)
  } catch (err) {
    const e = err as NodeJS.ErrnoException
    // mkdir reports EEXIST for a file in the way, and ENOENT (not EROFS) on a read-only mount
    const why =
      e.code === 'EEXIST' || e.code === 'ENOTDIR'
        ? 'not a directory'
        : e.code === 'ENOENT'
          ? 'cannot be created'
          : e.message
    throw new DataDirError(`data directory ${dir} (${settingName('data')}): ${why}`)
  }
}

/** The error `node.start()` failed with, said in terms of the setting to change. */
function startError(err: unknown, config: Readonly<NodeConfig>): unknown {
  const causes: Array<Error & { code?: string; name: string }> = []
  for (let e = err as Error | undefined; e instanceof Error && causes.length < 8; e = e.cause as Error)
    causes.push(e)
  // LevelDB's lock on the store's index: held by the daemon that has the directory open
  if (causes.some((e) => e.code === 'LEVEL_LOCKED')) return new DataDirInUseError(config.data)
  const e = causes[0]
  if (e === undefined) return err
  if (e.code === 'EADDRINUSE' || e.code === 'EADDRNOTAVAIL' || e.code === 'EACCES')
    return new ListenAddressError(
      `cannot serve the local API on ${config.playbackHost}:${config.playbackPort} (${settingName('playbackPort')}, ${settingName('playbackHost')}): ${e.message}`,
    )
  if (e.name === 'UnsupportedListenAddressesError') {
    // libp2p's message lists each address with its error's stack, and advice to set an
    // option of its own the daemon does not expose: keep the addresses and the reasons
    const lines = e.message
      .split('\n')
      .slice(1)
      .filter((l) => l.trim() !== '' && !/^\s+at /.test(l))
      .map((l) => l.trim().replace(/: Error: /, ': '))
    return new ListenAddressError(
      `cannot listen on ${lines.join('; ') || config.listen.join(', ')} (${settingName('listen')})`,
    )
  }
  return err
}

export { ENV_KEYS }
