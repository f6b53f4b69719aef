/**
 * The `dandelion node` command (`fetch` and `limits`, which talk to a running daemon, are
 * in `api-commands.ts`).
 *
 * `dandelion node --data DIR [--campus C] [--city Y] [--bootstrap ADDR]... [--origin URL]
 * [--tracker URL]... ...` runs a node daemon (and, with trackers, its tracker agent) until
 * SIGTERM/SIGINT (graceful stop: agent, then node).
 */
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { loadOrCreateToken } from '../api-token.ts'
import { misspeltEnv } from '../did-you-mean.ts'
import { createNode } from '../index.ts'
import { checkAgentSettings, parseOriginKey, resolveConfig } from './config.ts'
import {
  ENV_KEYS,
  fromEnv,
  fromFile,
  fromFlags,
  NODE_ENV_NAMES,
  nodeFlagOptions,
  settingName,
} from './config-sources.ts'
import { untrustedHoldingLine, untrustedHoldings } from './held-content.ts'
import { unheardAddresses } from './listen-addresses.ts'
import { lowDiskLine } from './low-disk.ts'
import { loadOrCreateKey, prepareDataDir, startError } from './startup.ts'
import { startTrackerAgent } from './tracker-agent.ts'
import { reportTracker } from './tracker-lines.ts'

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
  /**
   * How long the daemon waits for its first tracker answer (a welcome or a refusal) before
   * saying that none came. @default `TRACKER_WAIT_WARN_MS` (`tracker-lines.ts`)
   */
  trackerWaitWarnMs?: number
}

export const NODE_HELP = `usage: dandelion node --data DIR [options]

  --data DIR              store, names and identity key (DANDELION_DATA)
  --role campus|device    (DANDELION_ROLE, default campus)
  --campus NAME --city NAME   (DANDELION_CAMPUS, DANDELION_CITY); with --tracker, the campus must
                          be in the tracker's inventory first (POST /api/v1/campuses)
  --listen MULTIADDR      repeatable (DANDELION_LISTEN, comma-separated; default TCP 4001 on IPv4 and
                          IPv6, /ip4/0.0.0.0/tcp/4001 and /ip6/::/tcp/4001, and for a campus node with
                          --webrtc UDP 4001 too, /ip4/0.0.0.0/udp/4001/webrtc-direct and /ip6/::/...:
                          the port the origin's seeding node also takes by default, pick another
                          on a shared machine)
  --bootstrap MULTIADDR   repeatable, ends in /p2p/<id> (DANDELION_BOOTSTRAP, comma-separated);
                          list the origin's "seeding node" address: a node that does not reach
                          it gets what no peer has from the origin's HTTP fallback
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
  --origin-limit-schedule W   repeatable: the origin (WAN) rate by time of day, each window
                          [DAYS ]HH:MM-HH:MM=B/S|none, e.g. "mon-fri 07:30-17:00=262144"; the first
                          window holding a moment gives its rate, --origin-limit applies outside
                          them, local time (DANDELION_ORIGIN_LIMIT_SCHEDULE, ;-separated)
  --min-free-disk-bytes N bytes kept free on the store's disk (DANDELION_MIN_FREE_DISK_BYTES, default
                          1 GiB, 0 none): past it the least recently used unpinned content is evicted
                          (as at --quota-bytes), then downloads stop with a message saying so
  --mdns --no-dht
  --webrtc                WebRTC-Direct (DANDELION_WEBRTC): a campus node accepts lamps behind NAT on
                          its /webrtc-direct listen address; a device dials one given as --bootstrap
  --scrub-interval-hours H   hours between two scrubs of the store, every chunk read back and
                          hashed, a corrupt one fetched again (DANDELION_SCRUB_INTERVAL_HOURS,
                          default 168; 0: only on POST /scrub); --scrub-rate B/S its read rate
                          (DANDELION_SCRUB_RATE, default 8 MiB/s)
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
  -h, --help
Every flag has a DANDELION_* variable; flags win over variables, variables over the file.
A setting that cannot be used (a bad value, a port in use, a data directory another daemon
has open) exits 2, naming it.
`

/** Runs the node daemon; resolves once it has stopped. */
export async function runNodeCommand(argv: string[], io: CommandIo = {}): Promise<void> {
  const out = io.stdout ?? ((l: string) => process.stdout.write(`${l}\n`))
  const { values } = parseArgs({
    args: argv,
    options: nodeFlagOptions(),
    strict: true,
    allowPositionals: false,
  })
  if (values.help === true) {
    out(NODE_HELP)
    return
  }
  const env = io.env ?? process.env
  const warn = io.stderr ?? ((l: string) => process.stderr.write(`${l}\n`))
  // a misspelt variable is no error (the environment is shared with the other services), but
  // it must not go unnoticed: the setting it was meant for silently kept its default
  for (const { name, meant } of misspeltEnv(env, NODE_ENV_NAMES))
    warn(`WARNING: ${name} is not a setting of the node daemon and is ignored: did you mean ${meant}?`)
  const configPath = (values.config as string | undefined) ?? env.DANDELION_CONFIG
  const config = resolveConfig(
    configPath === undefined ? {} : await fromFile(configPath),
    fromEnv(env),
    fromFlags(values),
  )
  checkAgentSettings(config)

  const trustedOrigins = config.trustedOrigins.map(parseOriginKey)
  if (config.trustAnyOrigin) {
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
    onWarning: warn,
    // a peer's campus and city count only on these trackers' word (`swarm/locality.ts`)
    trustedTrackers: config.trackerIds.length > 0 ? [...config.trackerIds] : undefined,
    quotaBytes: config.quotaBytes,
    minFreeDiskBytes: config.minFreeDiskBytes,
    hashWorkers: config.hashWorkers,
    directIo: config.directIo,
    scrub: {
      intervalMs: config.scrubIntervalHours * 3_600_000,
      bytesPerSecond: config.scrubRate,
      onCorrupt: (chunk) => out(JSON.stringify(corruptOnDiskLine(chunk))),
    },
    originLimitSchedule: [...config.originLimitSchedule],
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
    tracker = await startTrackerAgent(
      {
        node,
        privateKey,
        onWarning: warn,
        // swarm hellos show it from now on, and peers' statements by its tracker are believed
        onMembership: (signed) => {
          node
            .setMembership(signed)
            .catch((err: Error) =>
              warn(`WARNING: the tracker's membership statement was not kept: ${err.message}`),
            )
        },
      },
      config,
      join(config.data, 'agent'),
    )
  } catch (err) {
    await node.stop()
    throw err
  }
  const stopReporting =
    tracker === undefined
      ? undefined
      : reportTracker(tracker.agent, {
          nodeId: tracker.nodeId,
          trackers: config.trackers,
          out,
          waitWarnMs: io.trackerWaitWarnMs,
        })
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
  for (const addr of unheardAddresses(config.listen, node.multiaddrs))
    warn(
      `WARNING: nothing listens on ${addr} (${settingName('listen')}): this machine has no ${addr.startsWith('/ip6/') ? 'IPv6' : 'IPv4'} address, ` +
        'or another program holds that port on it. Peers and lamps reach this node only at the "multiaddrs" of its ready line; ' +
        'name the addresses to listen on to silence this',
    )
  const overQuota = overQuotaLine(node.store.usage())
  if (overQuota !== undefined) out(JSON.stringify(overQuota))
  const lowDisk = await lowDiskLine(config.data, config.minFreeDiskBytes)
  if (lowDisk !== undefined) out(JSON.stringify(lowDisk))
  if (!config.trustAnyOrigin)
    untrustedHoldings(node, trustedOrigins, { signal: io.signal })
      .then((held) => {
        for (const h of held) out(JSON.stringify(untrustedHoldingLine(h)))
      })
      .catch((err: Error) => {
        if (io.signal?.aborted !== true)
          warn(`checking the content held against the trusted origins failed: ${err.message}`)
      })
  await new Promise<void>((resolve) => {
    if (io.signal !== undefined) {
      if (io.signal.aborted) resolve()
      io.signal.addEventListener('abort', () => resolve(), { once: true })
      return
    }
    process.once('SIGTERM', () => resolve())
    process.once('SIGINT', () => resolve())
  })
  stopReporting?.()
  // the agent first: no command may start on a node that is shutting down
  await tracker?.agent.stop()
  await node.stop()
  out(JSON.stringify({ event: 'stopped' }))
}

/** The line said for each chunk a scrub found corrupt on the store's disk. */
export function corruptOnDiskLine(chunk: string): Record<string, string> {
  return {
    event: 'corrupt-on-disk',
    chunk,
    message:
      "the store's disk changed this chunk after it was verified: dropped, and fetched again from peers. " +
      'Now and then is bit rot; more is a failing disk (check it: smartctl, dmesg)',
  }
}

/**
 * The line said at start when the content the node must keep (pinned: placed by the tracker,
 * or pinned by hand) is more than its quota, typically after `--quota-bytes` was lowered:
 * every new placement then fails with `QuotaExceededError`, and nothing said why up front.
 */
export function overQuotaLine(usage: {
  pinnedBytes: number
  quotaBytes: number
}): Record<string, string | number> | undefined {
  if (!(usage.pinnedBytes > usage.quotaBytes)) return undefined
  return {
    event: 'over-quota',
    pinnedBytes: usage.pinnedBytes,
    quotaBytes: usage.quotaBytes,
    message:
      `the content this node must keep (pinned) is ${usage.pinnedBytes} bytes, more than its quota of ${usage.quotaBytes} ` +
      'bytes: it is kept and served, but nothing new can be placed. Raise --quota-bytes (DANDELION_QUOTA_BYTES, ' +
      '"quotaBytes"), or unpin content (roll back or replace the releases that placed it)',
  }
}

export { ENV_KEYS }
