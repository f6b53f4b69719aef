/**
 * The tracker: inventory, versions, staged releases and the ACKed command channel to the
 * nodes, with its state in level.
 *
 * ```ts
 * const tracker = await createTracker({ dataDir: './tracker', adminToken, enrollmentToken, port: 0 })
 * // nodes: createAgent(..., { trackers: [tracker.channelUrl] }); operators: tracker.url + '/api/v1'
 * ```
 *
 * Its options and what it returns are typed in `tracker-types.ts`.
 */
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Libp2p } from '@libp2p/interface'
import { TrackerSigner } from '../node/agent/tracker-auth.ts'
import { InvalidConfigError } from '../node/errors.ts'
import type { HostServices } from '../node/host/index.ts'
import { loadOrCreateKey } from '../node/keys.ts'
import { createApi } from './api/index.ts'
import { Backups } from './backups.ts'
import { ChannelServer } from './channel/server.ts'
import { CHANNEL_PATH, DEFAULT_HOST, DEFAULT_PORT, MAX_RELEASES } from './constants.ts'
import { StateLockedError } from './errors.ts'
import { NodeEvents } from './node-events.ts'
import { RolloutEngine } from './rollout/engine.ts'
import { ReleaseSweeper } from './rollout/sweeper.ts'
import { TrackerState } from './state/index.ts'
import { isLockedError } from './state/kv.ts'
import type { Tracker, TrackerInit } from './tracker-types.ts'

export { API_PREFIX } from './api/index.ts'
export * from './errors.ts'
export * from './operator-errors.ts'
export type { CreateReleaseInput, OperateOptions, ReleaseEvent } from './rollout/engine.ts'
export type { ReleaseStatusReport } from './rollout/status.ts'
export type { ReleaseSweeper, SweepOptions, SweepResult } from './rollout/sweeper.ts'
export type * from './state/index.ts'
export type { Tracker, TrackerInit } from './tracker-types.ts'

const INIT_KEYS = new Set([
  'dataDir',
  'adminToken',
  'viewerToken',
  'enrollmentToken',
  'host',
  'port',
  'logger',
  'retransmitInitialMs',
  'retransmitMaxMs',
  'heartbeatIntervalMs',
  'maxPendingHandshakes',
  'membershipCheckIntervalMs',
  'bootstrap',
  'releaseRetentionMs',
  'releaseSweepIntervalMs',
  'maxReleases',
  'catchUpRetryInitialMs',
  'catchUpRetryMaxMs',
  'backupIntervalMs',
  'backupKeep',
])

/** Checks the whole configuration (unknown keys rejected) and returns a frozen copy. */
function validateInit(init: TrackerInit): Readonly<TrackerInit> {
  for (const k of Object.keys(init))
    if (!INIT_KEYS.has(k)) throw new InvalidConfigError(`unknown option ${k}`)
  // named as an operator sets them: `dandelion tracker` takes them from these flags or variables
  if (typeof init.adminToken !== 'string' || init.adminToken.length < 8)
    throw new InvalidConfigError(
      'adminToken must be at least 8 characters: set --admin-token or DANDELION_ADMIN_TOKEN',
    )
  if (
    init.viewerToken !== undefined &&
    (typeof init.viewerToken !== 'string' ||
      init.viewerToken.length < 8 ||
      init.viewerToken === init.adminToken)
  )
    throw new InvalidConfigError(
      'viewerToken must be at least 8 characters and differ from the admin token: set --viewer-token or DANDELION_VIEWER_TOKEN',
    )
  if (
    init.enrollmentToken !== undefined &&
    (typeof init.enrollmentToken !== 'string' || init.enrollmentToken.length < 8)
  )
    throw new InvalidConfigError(
      'enrollmentToken must be at least 8 characters: set --enrollment-token or DANDELION_ENROLLMENT_TOKEN',
    )
  if (init.port !== undefined && !(Number.isInteger(init.port) && init.port >= 0 && init.port <= 65535))
    throw new InvalidConfigError(`port ${init.port} out of range`)
  for (const k of [
    'retransmitInitialMs',
    'retransmitMaxMs',
    'heartbeatIntervalMs',
    'maxPendingHandshakes',
    'membershipCheckIntervalMs',
  ] as const) {
    const v = init[k]
    if (v !== undefined && !(Number.isFinite(v) && v > 0)) throw new InvalidConfigError(`${k} must be > 0`)
  }
  const retention = init.releaseRetentionMs
  if (retention !== undefined && !(Number.isSafeInteger(retention) && retention >= 0))
    throw new InvalidConfigError(
      'releaseRetentionMs must be a whole number of milliseconds ≥ 0 (0 keeps releases for ever): set --release-retention',
    )
  const interval = init.releaseSweepIntervalMs
  if (interval !== undefined && !(Number.isSafeInteger(interval) && interval > 0))
    throw new InvalidConfigError('releaseSweepIntervalMs must be a whole number of milliseconds > 0')
  for (const k of ['catchUpRetryInitialMs', 'catchUpRetryMaxMs'] as const) {
    const v = init[k]
    if (v !== undefined && !(Number.isSafeInteger(v) && v > 0))
      throw new InvalidConfigError(`${k} must be a whole number of milliseconds > 0`)
  }
  if (
    init.catchUpRetryInitialMs !== undefined &&
    init.catchUpRetryMaxMs !== undefined &&
    init.catchUpRetryMaxMs < init.catchUpRetryInitialMs
  )
    throw new InvalidConfigError('catchUpRetryMaxMs must be at least catchUpRetryInitialMs')
  if (
    init.backupIntervalMs !== undefined &&
    !(Number.isSafeInteger(init.backupIntervalMs) && init.backupIntervalMs >= 0)
  )
    throw new InvalidConfigError(
      'backupIntervalMs must be a whole number of milliseconds ≥ 0: set --backup-interval',
    )
  if (
    init.backupKeep !== undefined &&
    !(Number.isSafeInteger(init.backupKeep) && init.backupKeep >= 1 && init.backupKeep <= 1000)
  )
    throw new InvalidConfigError('backupKeep must be a whole number from 1 to 1000: set --backup-keep')
  if (init.dataDir === undefined && (init.backupIntervalMs ?? 0) > 0)
    throw new InvalidConfigError('scheduled backups need a data directory: set --data-dir')
  const max = init.maxReleases
  if (max !== undefined && !(Number.isSafeInteger(max) && max > 0 && max <= MAX_RELEASES * 10))
    throw new InvalidConfigError(`maxReleases must be a whole number from 1 to ${MAX_RELEASES * 10}`)
  if (init.dataDir !== undefined && (typeof init.dataDir !== 'string' || init.dataDir === ''))
    throw new InvalidConfigError('dataDir must be a path')
  return Object.freeze({ ...init })
}

/** Opens the state, starts the admin API and the command channel. */
export async function createTracker(options: TrackerInit): Promise<Tracker> {
  const init = validateInit(options)
  if (init.dataDir !== undefined) await mkdir(init.dataDir, { recursive: true })
  const state = new TrackerState(init.dataDir === undefined ? undefined : join(init.dataDir, 'state'), {
    maxReleases: init.maxReleases,
  })
  try {
    await state.open()
  } catch (err) {
    // level's own words ("IO error: lock …/LOCK: already held by process") name neither the
    // cause nor the remedy
    if (init.dataDir !== undefined && isLockedError(err))
      throw new StateLockedError(init.dataDir, { cause: err })
    throw err
  }
  let engine: RolloutEngine | undefined
  // the tracker's identity: signs what nodes receive, and is the DHT bootstrap host's PeerId
  const privateKey =
    init.dataDir === undefined
      ? await generateKeyPair('Ed25519')
      : await loadOrCreateKey(join(init.dataDir, 'tracker.key'))
  const signer = new TrackerSigner(privateKey)
  const nodeEvents = new NodeEvents()
  const channel = new ChannelServer(
    { state, engine: () => engine!, signer, nodeEvents },
    {
      enrollmentToken: init.enrollmentToken,
      retransmitInitialMs: init.retransmitInitialMs,
      retransmitMaxMs: init.retransmitMaxMs,
      heartbeatIntervalMs: init.heartbeatIntervalMs,
      maxPendingHandshakes: init.maxPendingHandshakes,
      membershipCheckIntervalMs: init.membershipCheckIntervalMs,
    },
  )
  engine = new RolloutEngine(
    {
      state,
      deliver: (nodeId) => channel.deliver(nodeId),
      isConnected: (nodeId) => channel.isConnected(nodeId),
    },
    { catchUpRetryInitialMs: init.catchUpRetryInitialMs, catchUpRetryMaxMs: init.catchUpRetryMaxMs },
  )
  // before any node connects: a release blocked before a restart moves on once there is room
  await engine.start()
  const retention = new ReleaseSweeper(
    { state, announce: (tx, e) => engine.announce(tx, e) },
    { retentionMs: init.releaseRetentionMs, intervalMs: init.releaseSweepIntervalMs },
  )
  // backups of the state on disk; a tracker in memory has none
  const backups =
    init.dataDir === undefined
      ? undefined
      : new Backups(
          { state, dataDir: init.dataDir, trackerId: signer.id },
          { keep: init.backupKeep, intervalMs: init.backupIntervalMs },
        )
  const app = createApi(
    { state, engine, channel, backups, nodeEvents },
    { adminToken: init.adminToken, viewerToken: init.viewerToken, logger: init.logger },
  )
  channel.attach(app.server)
  try {
    await app.listen({ host: init.host ?? DEFAULT_HOST, port: init.port ?? DEFAULT_PORT })
  } catch (err) {
    await channel.close()
    await state.close()
    throw err
  }
  retention.start()
  backups?.start()
  let libp2p: Libp2p<HostServices> | undefined
  if (init.bootstrap !== undefined && init.bootstrap !== false) {
    try {
      // imported only when enabled: a libp2p stack weighs tens of MB of RSS
      const { startBootstrapHost } = await import('./bootstrap.ts')
      libp2p = await startBootstrapHost({
        ...init.bootstrap,
        privateKey: init.bootstrap.privateKey ?? privateKey,
      })
    } catch (err) {
      await retention.stop()
      await backups?.stop()
      await channel.close()
      await app.close()
      await state.close()
      throw err
    }
  }
  const addr = app.server.address()
  const port = typeof addr === 'object' && addr !== null ? addr.port : (init.port ?? DEFAULT_PORT)
  // an IPv6 address goes in brackets in a URL: `ws://::1:7070/channel` is no URL at all
  const bare = init.host ?? DEFAULT_HOST
  const host = bare.includes(':') && !bare.startsWith('[') ? `[${bare}]` : bare
  return {
    url: `http://${host}:${port}`,
    channelUrl: `ws://${host}:${port}${CHANNEL_PATH}`,
    trackerId: signer.id,
    state,
    engine,
    channel,
    retention,
    app,
    libp2p,
    bootstrapAddrs: libp2p?.getMultiaddrs().map((m) => m.toString()) ?? [],
    async close() {
      engine!.stop()
      // a pass in progress ends after its current step, before the state closes
      await retention.stop()
      // a backup being taken reads the state: it ends before the state closes
      await backups?.stop()
      await libp2p?.stop()
      await channel.close()
      await app.close()
      await state.close()
    },
  }
}
