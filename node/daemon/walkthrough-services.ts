/**
 * The walkthrough's services, each a real `dandelion` child process started with the flags
 * an operator would give it and awaited until it says it is ready: the tracker (its JSON
 * line), the origin (its banner), each node daemon (its ready line, then its enrollment
 * with the tracker) and the upload of the lesson.
 */
import { join } from 'node:path'
import type { DandelionProcess } from './processes.ts'
import type { WalkthroughNode } from './walkthrough-plan.ts'
import { parseJson, parseOriginBanner } from './walkthrough-util.ts'

/** Starts a `dandelion` child process (torn down with the walkthrough). */
export type RunService = (label: string, args: string[]) => DandelionProcess

/** The secrets the walkthrough's services share. */
export interface WalkthroughTokens {
  admin: string
  upload: string
  /**
   * Per campus, a token the tracker issued for that campus's nodes only, as an operator hands
   * one to each school (`dandelion enroll-token create --campus …`); filled in once issued. The
   * tracker has no shared enrollment token: nothing else enrolls.
   */
  campus: Record<string, string>
}

/** What the tracker says it is at start. */
export interface TrackerReady {
  url: string
  channelUrl: string
  trackerId: string
}

/** What the origin's banner says. */
export interface OriginReady {
  url: string
  /** Its signing key, base64 protobuf (what `--trusted-origin` takes). */
  publicKey: string
  /** Its seeding node's multiaddr. */
  seed: string
}

/** Starts the tracker in `dir/tracker`; resolves once it has said where it listens. */
export async function startTracker(
  run: RunService,
  dir: string,
  tokens: WalkthroughTokens,
  signal: AbortSignal,
): Promise<TrackerReady> {
  return await run('tracker', [
    'tracker',
    '--data-dir',
    join(dir, 'tracker'),
    '--port',
    '0',
    '--admin-token',
    tokens.admin,
    '--retransmit-ms',
    '1000',
  ]).waitFor((l) => parseJson<TrackerReady>(l, 'channelUrl'), { signal })
}

/**
 * Starts the origin in `dir/origin`, registering its versions with `tracker`; resolves
 * once its banner is out.
 */
export async function startOrigin(
  run: RunService,
  dir: string,
  tokens: WalkthroughTokens,
  tracker: TrackerReady,
  signal: AbortSignal,
): Promise<OriginReady> {
  const proc = run('origin', [
    'origin',
    '--data',
    join(dir, 'origin'),
    '--port',
    '0',
    '--token',
    tokens.upload,
    '--chunk-size',
    String(256 * 1024),
    '--hash-workers',
    '1',
    '--min-free-disk-bytes',
    '0',
    '--p2p-listen',
    '/ip4/127.0.0.1/tcp/0',
    '--tracker-url',
    tracker.url,
    '--tracker-token',
    tokens.admin,
  ])
  await proc.waitFor((l) => (l.startsWith('Upload a lesson:') ? true : undefined), { signal })
  return parseOriginBanner(proc.lines)
}

/** Starts `dandelion upload` of `file` as `resource`; its process says when it is done. */
export function startUpload(
  run: RunService,
  dir: string,
  tokens: WalkthroughTokens,
  origin: OriginReady,
  file: string,
  resource: string,
): DandelionProcess {
  return run('upload', [
    'upload',
    file,
    '--origin',
    origin.url,
    '--token',
    tokens.upload,
    '--name',
    resource,
    '--type',
    'video',
    '--state',
    join(dir, 'uploads.json'),
    '--quiet',
  ])
}

/** Where every node daemon of the walkthrough finds the origin and the tracker. */
export interface NodeDaemonContext {
  dir: string
  tokens: WalkthroughTokens
  origin: OriginReady
  tracker: TrackerReady
  out: (line: string) => void
  signal: AbortSignal
}

/**
 * Starts node daemon `n` in `dir/<nodeId>`, listing `bootstrap`; resolves once it is
 * ready and enrolled with the tracker, with `n.api` and `n.multiaddr` filled in.
 * @throws ChildProcessError when the tracker refuses it
 */
export async function startNodeDaemon(
  run: RunService,
  n: WalkthroughNode,
  bootstrap: string[],
  ctx: NodeDaemonContext,
): Promise<void> {
  const { signal } = ctx
  const p = run(n.nodeId, [
    'node',
    '--data',
    join(ctx.dir, n.nodeId),
    '--role',
    n.role,
    '--campus',
    n.campus,
    '--city',
    n.city,
    '--node-id',
    n.nodeId,
    ...(n.role === 'device' ? ['--labels', 'lamp'] : []),
    ...bootstrap.flatMap((b) => ['--bootstrap', b]),
    '--listen',
    '/ip4/127.0.0.1/tcp/0',
    '--playback-port',
    '0',
    '--origin',
    ctx.origin.url,
    '--trusted-origin',
    ctx.origin.publicKey,
    '--tracker',
    ctx.tracker.channelUrl,
    '--tracker-id',
    ctx.tracker.trackerId,
    '--enroll-token',
    ctx.tokens.campus[n.campus] ?? '',
  ])
  const ready = await p.waitFor(
    (l) => parseJson<{ api: string; multiaddrs: string[]; peerId: string }>(l, 'api'),
    { signal },
  )
  n.api = ready.api
  n.multiaddr = ready.multiaddrs[0]
  await p.waitFor(
    (l) => {
      const refused = parseJson<{ code: string; message: string }>(l, 'code')
      if (refused !== undefined)
        throw p.failure(`was refused by the tracker: ${refused.code} ${refused.message}`)
      return l.includes('"event":"tracker"') ? true : undefined
    },
    { signal },
  )
  ctx.out(`   ${n.nodeId.padEnd(12)} ${n.role.padEnd(6)} ${n.city}/${n.campus}  enrolled; playback ${n.api}`)
}
