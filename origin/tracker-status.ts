/**
 * How registering versions with the tracker goes, for operators: the origin's `/healthz`
 * (`tracker`) and `/metrics` (`dandelion_origin_tracker_*`) read it. Before, a tracker
 * that was down or refused the origin's token showed only on the daemon's stderr.
 *
 * The registration loop (`registerWithTracker`, `tracker-registration.ts`) writes it; each
 * origin has one, made with it (`Origin.trackerRegistration`).
 */

/** What the registration stands at, as `/healthz` shows it. */
export type TrackerRegistrationState =
  /** The last attempt worked, or none has failed since registration started. */
  | 'ok'
  /** The tracker is unreachable or erring: versions wait and are retried. */
  | 'failing'
  /**
   * The tracker refuses the origin's admin token (401, 403): versions wait and are
   * retried only every 5 minutes, until the tracker or the origin is given the right token.
   */
  | 'token-refused'

/** The `tracker` field of `GET /healthz` (times are ISO 8601, `null` for never). */
export interface TrackerRegistrationHealth {
  status: TrackerRegistrationState
  /** Public versions waiting to be registered. */
  pendingVersions: number
  /** Failed attempts in a row (0 once one works). */
  consecutiveFailures: number
  /** Why the last attempt failed, while failing. */
  lastFailure: string | null
  lastFailureAt: string | null
  /** When the last version was registered. */
  lastSuccessAt: string | null
  /** When the next attempt is due, while failing. */
  nextAttemptAt: string | null
  /** Versions the tracker refused for good (a malformed field), since the start: not registered. */
  versionsRefused: number
}

/** Numbers of {@link TrackerRegistrationStatus.metrics} (times in seconds since the epoch, 0: never). */
export interface TrackerRegistrationMetrics {
  /** 1 while a registration runs. */
  enabled: number
  pending: number
  consecutiveFailures: number
  /** 1 while the tracker refuses the token. */
  tokenRefused: number
  lastFailureSeconds: number
  lastSuccessSeconds: number
  /** Failed attempts since the start. */
  failuresTotal: number
  registeredTotal: number
  refusedTotal: number
}

const iso = (ms: number | undefined): string | null => (ms === undefined ? null : new Date(ms).toISOString())

/** The state of an origin's registration with the tracker (none until one starts). */
export class TrackerRegistrationStatus {
  private readPending: (() => number) | undefined
  private failuresInRow = 0
  private tokenRefused = false
  private lastFailure: { at: number; reason: string } | undefined
  private lastSuccessAt: number | undefined
  private nextAttemptAt: number | undefined
  private refused = 0
  private failures = 0
  private registeredVersions = 0

  /** Whether a registration runs (the origin was given a tracker). */
  get enabled(): boolean {
    return this.readPending !== undefined
  }

  /** A registration starts; `pending` counts the versions waiting in it. */
  started(pending: () => number): void {
    this.readPending = pending
    this.failuresInRow = 0
    this.tokenRefused = false
    this.nextAttemptAt = undefined
  }

  /** The registration stopped (the origin is closing). */
  stopped(): void {
    this.readPending = undefined
  }

  /** An attempt failed; the next is in `retryInMs`. */
  failed(reason: string, tokenRefused: boolean, retryInMs: number, now = Date.now()): void {
    this.failuresInRow++
    this.tokenRefused = tokenRefused
    this.lastFailure = { at: now, reason }
    this.nextAttemptAt = now + retryInMs
    this.failures++
  }

  /** A version was registered. */
  registered(now = Date.now()): void {
    this.failuresInRow = 0
    this.tokenRefused = false
    this.nextAttemptAt = undefined
    this.lastSuccessAt = now
    this.registeredVersions++
  }

  /**
   * The tracker refused a version for good. That refusal is an answer from a tracker that
   * is up and takes the token: an outage or a refused token it ends is over, as after a
   * version registered. Left as it was, `/healthz` kept saying `failing` or `token-refused`
   * (an operator who had fixed the token was told it was still wrong) until another
   * version happened to be registered, which may be days away.
   */
  refusedVersion(): void {
    this.refused++
    this.failuresInRow = 0
    this.tokenRefused = false
    this.nextAttemptAt = undefined
  }

  /** What `/metrics` shows, read when it is scraped. */
  metrics(): TrackerRegistrationMetrics {
    return {
      failuresTotal: this.failures,
      registeredTotal: this.registeredVersions,
      refusedTotal: this.refused,
      enabled: this.enabled ? 1 : 0,
      pending: this.readPending?.() ?? 0,
      consecutiveFailures: this.failuresInRow,
      tokenRefused: this.tokenRefused ? 1 : 0,
      lastFailureSeconds: (this.lastFailure?.at ?? 0) / 1000,
      lastSuccessSeconds: (this.lastSuccessAt ?? 0) / 1000,
    }
  }

  /** The `tracker` field of `/healthz`; `undefined` while no registration runs. */
  health(): TrackerRegistrationHealth | undefined {
    if (this.readPending === undefined) return undefined
    const failing = this.failuresInRow > 0
    return {
      status: !failing ? 'ok' : this.tokenRefused ? 'token-refused' : 'failing',
      pendingVersions: this.readPending(),
      consecutiveFailures: this.failuresInRow,
      lastFailure: failing ? (this.lastFailure?.reason ?? null) : null,
      lastFailureAt: iso(this.lastFailure?.at),
      lastSuccessAt: iso(this.lastSuccessAt),
      nextAttemptAt: failing ? iso(this.nextAttemptAt) : null,
      versionsRefused: this.refused,
    }
  }
}
