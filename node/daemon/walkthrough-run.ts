/**
 * `npm start` / `dandelion demo`: a staged release walked through on loopback, every
 * service a real `dandelion` child process. A tracker; an origin registering its versions
 * with it; campus node daemons in two cities and three campuses plus a lamp device, each
 * enrolled with the tracker; a generated lesson uploaded with `dandelion upload`, approved
 * and released through the tracker's admin API (a canary stage, then 100%, auto gate),
 * with progress from the release status; then the lesson is played back by name from
 * every node and checked byte for byte. Everything is torn down at the end, on failure and
 * on SIGINT/SIGTERM.
 *
 * `node/` never imports `origin/` or `tracker/`: the walkthrough only runs commands
 * (`walkthrough-services.ts` starts each) and speaks HTTP. Its command line,
 * `runWalkthroughCommand`, is `walkthrough.ts`.
 */
import { randomBytes } from 'node:crypto'
import { rmSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { AdminClient, type ReleaseNodeRow } from './admin-client.ts'
import { childEnv, DandelionProcess } from './processes.ts'
import { CAMPUSES, CITIES, planNodes, type WalkthroughNode } from './walkthrough-plan.ts'
import { followRelease } from './walkthrough-progress.ts'
import {
  startNodeDaemon,
  startOrigin,
  startTracker,
  startUpload,
  type WalkthroughTokens,
} from './walkthrough-services.ts'
import { digestUrl, match, until, writeSample } from './walkthrough-util.ts'

const MiB = 1024 * 1024
const RESOURCE = 'sample-lesson'

/** The walkthrough ran out of time (`timeoutMs`); everything was torn down. */
export class WalkthroughTimeoutError extends Error {
  override name = 'WalkthroughTimeoutError'
  readonly code = 'ERR_WALKTHROUGH_TIMEOUT'
}

/** Options of {@link runWalkthrough}. */
export interface WalkthroughOptions {
  /** Campus node daemons, spread over 3 campuses in 2 cities. @default 6 */
  campusNodes?: number
  /** Lamp devices. @default 1 */
  devices?: number
  /** Size of the generated lesson. @default 32 MiB */
  fileBytes?: number
  /** Percentage of the targets in the canary stage (at least one node). @default 20 */
  canaryPercent?: number
  /** Gives up (and tears down) after this long. @default 300000 */
  timeoutMs?: number
  /** Progress bars. @default true when stdout is a TTY */
  bars?: boolean
  stdout?: (line: string) => void
  /** Stops the walkthrough (everything is torn down). */
  signal?: AbortSignal
}

/** What the walkthrough saw. */
export interface WalkthroughResult {
  manifestCid: string
  version: number
  fileBytes: number
  releaseId: string
  /** From the upload finishing to the release completing. */
  releaseSeconds: number
  /** Bytes by source, as the nodes reported them to the tracker. */
  bytes: { peers: number; origin: number }
  nodes: Array<WalkthroughNode & { state: string; servedBytes: number; servedMatches: boolean }>
}

/** Runs the walkthrough once and tears everything down. */
export async function runWalkthrough(options: WalkthroughOptions = {}): Promise<WalkthroughResult> {
  const out = options.stdout ?? ((l: string) => process.stdout.write(`${l}\n`))
  const fileBytes = options.fileBytes ?? 32 * MiB
  const timeoutMs = options.timeoutMs ?? 300_000
  const timeout = AbortSignal.timeout(timeoutMs)
  const signal = AbortSignal.any([timeout, ...(options.signal === undefined ? [] : [options.signal])])
  const dir = await mkdtemp(join(tmpdir(), 'dandelion-walkthrough-'))
  const env = childEnv()
  const procs: DandelionProcess[] = []
  const run = (label: string, args: string[]): DandelionProcess => {
    const p = new DandelionProcess(label, args, env)
    procs.push(p)
    return p
  }
  // a crash of this process (or a second Ctrl-C) must not leave the services behind, nor
  // their data: a sample and a copy of it per node, hundreds of MiB in the temp directory
  const onExit = (): void => {
    for (const p of procs) p.signalGroup('SIGKILL')
    try {
      rmSync(dir, { recursive: true, force: true, maxRetries: 3 })
    } catch {}
  }
  process.once('exit', onExit)
  const tokens: WalkthroughTokens = {
    admin: randomBytes(16).toString('hex'),
    campus: {},
    upload: randomBytes(16).toString('hex'),
  }
  try {
    out('1. tracker')
    const tracker = await startTracker(run, dir, tokens, signal)
    out(
      `   admin API ${tracker.url}/api/v1 (OpenAPI at ${tracker.url}/api/docs), channel ${tracker.channelUrl}`,
    )
    out(`   tracker key ${tracker.trackerId} (nodes obey only it: --tracker-id)`)
    const admin = new AdminClient(tracker.url, tokens.admin)
    for (const c of CITIES) await admin.call('POST', '/cities', c, { signal })
    for (const c of CAMPUSES) await admin.call('POST', '/campuses', c, { signal })
    out(
      `   inventory: cities ${CITIES.map((c) => c.id).join(', ')}; campuses ${CAMPUSES.map((c) => c.id).join(', ')}`,
    )

    out('2. origin (registers every version with the tracker)')
    const sample = join(dir, 'sample-lesson.mp4')
    const [origin, sha256] = await Promise.all([
      startOrigin(run, dir, tokens, tracker, signal),
      writeSample(sample, fileBytes),
    ])
    out(`   ${origin.url}, seeding node ${origin.seed}`)

    const nodes = planNodes(options.campusNodes ?? 6, options.devices ?? 1)
    // one enrollment token per campus, for its nodes only, as an operator gives each school
    for (const c of CAMPUSES) {
      const uses = nodes.filter((n) => n.campus === c.id).length
      if (uses === 0) continue
      const body = { campus: c.id, maxUses: uses, ttlSeconds: 3600, note: 'walkthrough' }
      tokens.campus[c.id] = (
        await admin.call<{ token: string }>('POST', '/enrollment-tokens', body, { signal })
      ).token
    }
    out(
      `3. ${nodes.length} node daemons enrolling with the tracker, each campus's with a token issued for it; uploading a ${fileBytes / MiB} MiB lesson meanwhile`,
    )
    const upload = startUpload(run, dir, tokens, origin, sample, RESOURCE)
    const ctx = { dir, tokens, origin, tracker, out, signal }
    const startNode = (n: WalkthroughNode, bootstrap: string[]): Promise<void> =>
      startNodeDaemon(run, n, bootstrap, ctx)
    // the first node of each campus first: the others list it (locality first) next to the seed
    const firsts = CAMPUSES.map((c) => nodes.find((n) => n.campus === c.id && n.role === 'campus'))
    await Promise.all(firsts.map((n) => (n === undefined ? undefined : startNode(n, [origin.seed]))))
    await Promise.all(
      nodes
        .filter((n) => !firsts.includes(n))
        .map((n) => {
          const local = firsts.filter((f) => f?.campus === n.campus)
          const others = firsts.filter((f) => f !== undefined && f.campus !== n.campus)
          return startNode(n, [origin.seed, ...[...local, ...others].map((f) => f!.multiaddr!)])
        }),
    )

    await upload.success({ signal })
    const manifestCid = match(upload.lines, /^manifest (\S+)/)
    const version = Number(match(upload.lines, /version (\d+)/))
    out(
      `4. uploaded ${RESOURCE} v${version} (manifest ${manifestCid}); waiting for the origin to register it`,
    )
    await until(
      async () =>
        (
          await admin.call<Array<{ version: number }>>('GET', `/resources/${RESOURCE}/versions`, undefined, {
            signal,
          })
        ).some((v) => v.version === version),
      signal,
    )
    await admin.call('POST', `/resources/${RESOURCE}/versions/${version}/approve`, undefined, { signal })
    const canary = options.canaryPercent ?? 20
    const release = await admin.call<{ id: string }>(
      'POST',
      '/releases',
      {
        resource: RESOURCE,
        version,
        targets: { cities: CITIES.map((c) => c.id) },
        stages: [
          { percent: canary, gate: 'auto' },
          { percent: 100, gate: 'auto' },
        ],
      },
      { signal },
    )
    out(
      `5. approved v${version}; release ${release.id}: canary ${canary}% → 100%, auto gate (every canary placed)`,
    )

    const t0 = performance.now()
    const status = await followRelease(admin, release.id, {
      out,
      bars: options.bars ?? process.stdout.isTTY === true,
      signal,
    })
    const releaseSeconds = (performance.now() - t0) / 1000

    out('6. playing the lesson back by name from every node')
    const rows = new Map<string, ReleaseNodeRow>(
      (await admin.nodes(release.id, { signal })).map((r) => [r.nodeId, r]),
    )
    const result: WalkthroughResult = {
      manifestCid,
      version,
      fileBytes,
      releaseId: release.id,
      releaseSeconds,
      bytes: status.bytes,
      nodes: [],
    }
    for (const n of nodes) {
      const served = await digestUrl(`${n.api}/content/by-name/${RESOURCE}`, signal)
      const row = rows.get(n.nodeId)
      result.nodes.push({
        ...n,
        state: row?.state ?? 'unknown',
        servedBytes: served.bytes,
        servedMatches: served.sha256 === sha256,
      })
      out(
        `   ${n.nodeId.padEnd(12)} ${(row?.state ?? '?').padEnd(7)} ${((row?.peerBytes ?? 0) / MiB).toFixed(1).padStart(6)} MiB from peers ${((row?.originBytes ?? 0) / MiB).toFixed(1).padStart(6)} MiB from origin  ${served.sha256 === sha256 ? 'bytes match' : 'BYTES DIFFER'}`,
      )
    }
    const bad = result.nodes.filter((n) => n.state !== 'active' || !n.servedMatches)
    if (bad.length > 0)
      throw new Error(`nodes not active with the right bytes: ${bad.map((n) => n.nodeId).join(', ')}`)
    out(
      `done: ${nodes.length} nodes active on v${version} ${releaseSeconds.toFixed(1)} s after the release was created; ` +
        `they got ${(status.bytes.peers / MiB).toFixed(1)} MiB from peers (each other and the origin's seeding node) and ` +
        `${(status.bytes.origin / MiB).toFixed(1)} MiB from the origin's HTTP fallback; every node served it at <playback>/content/by-name/${RESOURCE}.`,
    )
    return result
  } catch (err) {
    if (timeout.aborted)
      throw new WalkthroughTimeoutError(`the walkthrough did not finish within ${timeoutMs / 1000} s`, {
        cause: err,
      })
    throw err
  } finally {
    out('stopping every process…')
    // nodes first (they stop their agents), then the services they talk to
    const services = new Set(['tracker', 'origin', 'upload'])
    await Promise.allSettled(procs.filter((p) => !services.has(p.label)).map((p) => p.stop()))
    await Promise.allSettled(procs.filter((p) => services.has(p.label)).map((p) => p.stop()))
    process.removeListener('exit', onExit)
    await rm(dir, { recursive: true, force: true })
  }
}
