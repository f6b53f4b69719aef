/**
 * Registers every version the origin publishes with the tracker
 * (`POST /api/v1/resources/:name/versions`). The origin and the tracker never import each
 * other: they talk over HTTP.
 *
 * Versions wait in one queue, registered one at a time, each once. While the tracker is
 * unreachable or erring, the queue is retried with a backoff that doubles up to
 * {@link REGISTER_BACKOFF_MAX_MS}, for as long as the origin runs: a tracker down for an
 * update or a reboot gets every version uploaded meanwhile once it is back (each version
 * used to be given up on after 10 attempts, about 2 minutes, until the next start).
 * A refused token (401, 403) is retried only at the longest interval (the tracker's admin
 * token may be set right on its side); a version the tracker refuses for good (another
 * 4xx: a malformed field, another manifest under the same number) is dropped; that answer
 * also ends a failing spell, as a registration does. A redirect is a failure naming where it
 * points, never followed (a POST that became a GET was counted as registered). Failures are
 * reported at error level with their reason: the first, each change of reason, and every
 * {@link REPORT_EVERY_ATTEMPTS}th attempt after, never each one.
 *
 * One request, and what its answer means, is `tracker-request.ts`.
 *
 * How it goes is kept in the origin's {@link TrackerRegistrationStatus} (`/healthz` `tracker`,
 * `dandelion_origin_tracker_*` metrics), every attempt, not only what is reported.
 *
 * Removing a version (`Origin.removeVersion`) first asks the tracker to mark it removed
 * ({@link removalCheck}): the tracker refuses while a node runs the version, a release
 * carries it or could roll back to it, and the origin then keeps it (409); a tracker that
 * cannot be asked keeps it too (503). A version still waiting to be registered is taken out
 * of the queue first, and one whose registration is on the wire is waited for.
 *
 * Private versions (homework photos uploaded with an upload grant) are not registered: the
 * tracker's catalog is what gets rolled out to campuses, and a child's photo is not content
 * for every campus, nor for the tracker's listings.
 */
import { logger } from '@libp2p/logger'
import { TrackerUnavailableError, VersionInUseError } from './errors.ts'
import type { Origin, PublishedVersion } from './index.ts'
import { deleteVersion, postVersion, reasonOf, TrackerAnswerError } from './tracker-request.ts'
import { TrackerRegistrationStatus } from './tracker-status.ts'

const log = logger('dandelion:origin:tracker-registration')

/** First delay between attempts; doubles up to the cap. */
const REGISTER_BACKOFF_INITIAL_MS = 500
/** Longest delay between attempts, and the delay after a refused token. */
const REGISTER_BACKOFF_MAX_MS = 5 * 60_000
/** Versions waiting at most; past it the oldest waiting is dropped (the next start registers it). */
const MAX_PENDING_VERSIONS = 10_000
/** Versions remembered as registered, so one is never registered twice in a run. */
const MAX_REGISTERED_REMEMBERED = 10_000
/** Failures in a row between two reports of the same failure. */
const REPORT_EVERY_ATTEMPTS = 10

/** What registration reports for a person to see (the origin daemon prints it on stderr). */
export type TrackerRegistrationEvent =
  /**
   * Registering fails: the tracker is unreachable, erring, or refuses the token. Sent for
   * the first failure, each change of reason, and every {@link REPORT_EVERY_ATTEMPTS}th
   * failure in a row after. The versions stay queued and are retried in `retryInMs`.
   */
  | {
      type: 'failing'
      reason: string
      /** The tracker's HTTP status, when it answered. */
      status?: number
      /** The tracker refused the admin token (401, 403): retried at the longest interval only. */
      tokenRefused: boolean
      /** Failed attempts in a row. */
      attempts: number
      /** Versions waiting to be registered. */
      pending: number
      retryInMs: number
    }
  /** The tracker refused one version for good (a 4xx other than 401, 403, 408, 429): it is dropped. */
  | { type: 'refused'; name: string; version: number; status: number; reason: string }
  /** Registering works again after `attempts` failures in a row. */
  | { type: 'recovered'; attempts: number; pending: number }

/** Options of {@link registerWithTracker}. */
export interface TrackerRegistrationInit {
  /** Tracker base URL, e.g. `http://127.0.0.1:7070`. */
  trackerUrl: string
  /** The tracker's admin bearer token. */
  token: string
  /** First delay after a failed attempt; doubles up to `retryMaxMs`. @default 500 */
  retryInitialMs?: number
  /** Longest delay between attempts, and the delay after a refused token. @default 5 minutes */
  retryMaxMs?: number
  /** Reports failures and recovery (a listener that throws is logged, not fatal). */
  onEvent?: (event: TrackerRegistrationEvent) => void
}

/**
 * Waits `ms`, or until `signal` aborts. `signal` lives as long as the registration, so the
 * abort listener is removed when the timer fires: left behind, one per retry would pile up
 * (a MaxListenersExceededWarning past 10) and keep every finished wait reachable.
 */
function backoff(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    if (signal.aborted) return resolve()
    const onAbort = (): void => {
      clearTimeout(timer)
      resolve()
    }
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal.addEventListener('abort', onAbort, { once: true })
  })
}

const keyOf = (v: PublishedVersion): string => `${v.name}\0${v.version}`

/**
 * Subscribes to `origin.onVersion` and registers each new public version (manifest CID,
 * size, type) with the tracker; public versions already published are registered once at
 * start too (registration is idempotent on the tracker). Returns a function that stops it;
 * call it before closing the origin.
 */
export function registerWithTracker(origin: Origin, init: TrackerRegistrationInit): () => void {
  const controller = new AbortController()
  const { signal } = controller
  const base = init.trackerUrl.replace(/\/$/, '')
  const initialMs = init.retryInitialMs ?? REGISTER_BACKOFF_INITIAL_MS
  const maxMs = Math.max(init.retryMaxMs ?? REGISTER_BACKOFF_MAX_MS, initialMs)
  /** Versions to register, oldest first (a Map keeps insertion order). */
  const pending = new Map<string, PublishedVersion>()
  const registered = new Set<string>()
  let wake: (() => void) | undefined
  /** The registration on the wire, if any. */
  let posting: { key: string; done: Promise<unknown> } | undefined
  /** Versions a removal took out of the queue: a failed attempt on the wire does not put them back. */
  const withdrawn = new Set<string>()
  // an Origin-shaped object of an embedder's own (or a test's) may carry no status: keep one anyway
  const status = (origin as Partial<Origin>).trackerRegistration ?? new TrackerRegistrationStatus()
  status.started(() => pending.size)

  const report = (event: TrackerRegistrationEvent): void => {
    try {
      init.onEvent?.(event)
    } catch (err) {
      log.error('a registration listener threw: %e', err)
    }
  }

  const enqueue = (v: PublishedVersion): void => {
    if (v.private === true || signal.aborted) return
    const key = keyOf(v)
    if (registered.has(key) || pending.has(key)) return
    if (pending.size >= MAX_PENDING_VERSIONS) {
      const [oldest, dropped] = pending.entries().next().value!
      pending.delete(oldest)
      log.error(
        'more than %d versions wait for the tracker: %s v%d waits for the next start',
        MAX_PENDING_VERSIONS,
        dropped.name,
        dropped.version,
      )
    }
    pending.set(key, v)
    wake?.()
  }

  /** The one loop that registers what waits, backing off while the tracker fails. */
  const run = async (): Promise<void> => {
    let delay = initialMs
    let failures = 0
    let lastReason: string | undefined
    /** The tracker took a request (a version registered, or refused for good): a failing spell is over. */
    const answered = (): void => {
      if (failures > 0) {
        log('registering with the tracker at %s works again after %d failures', base, failures)
        report({ type: 'recovered', attempts: failures, pending: pending.size })
      }
      failures = 0
      delay = initialMs
      lastReason = undefined
    }
    while (!signal.aborted) {
      const next = pending.entries().next()
      if (next.done === true) {
        // nothing waits: sleep until a version is queued (or registration stops)
        await new Promise<void>((resolve) => {
          const done = (): void => {
            signal.removeEventListener('abort', done)
            wake = undefined
            resolve()
          }
          wake = done
          signal.addEventListener('abort', done, { once: true })
        })
        continue
      }
      const [key, v] = next.value
      try {
        const post = postVersion(base, init.token, v, signal)
        posting = { key, done: post.catch(() => {}) }
        await post
      } catch (err) {
        if (signal.aborted) return
        if (err instanceof TrackerAnswerError && err.permanent) {
          pending.delete(key)
          status.refusedVersion()
          log.error('the tracker refused %s v%d for good: %s', v.name, v.version, err.message)
          report({
            type: 'refused',
            name: v.name,
            version: v.version,
            status: err.status,
            reason: err.message,
          })
          // the tracker answered, with the token accepted: whatever failed before is over
          // (status.refusedVersion says so in /healthz), and the next failure starts afresh
          answered()
          continue
        }
        failures++
        const answer = err instanceof TrackerAnswerError ? err : undefined
        const tokenRefused = answer?.tokenRefused === true
        const reason = tokenRefused
          ? `the tracker refused the admin token (${answer!.message})`
          : answer !== undefined
            ? `the tracker answered ${answer.message}`
            : `the tracker cannot be reached (${reasonOf(err)})`
        const retryInMs = tokenRefused ? maxMs : delay
        delay = Math.min(delay * 2, maxMs)
        status.failed(reason, tokenRefused, retryInMs)
        if (failures === 1 || failures % REPORT_EVERY_ATTEMPTS === 0 || reason !== lastReason) {
          log.error(
            'registering with the tracker at %s fails (%d in a row): %s; %d version(s) wait, next attempt in %d s',
            base,
            failures,
            reason,
            pending.size,
            Math.round(retryInMs / 1000),
          )
          report({
            type: 'failing',
            reason,
            status: answer?.status,
            tokenRefused,
            attempts: failures,
            pending: pending.size,
            retryInMs,
          })
        }
        lastReason = reason
        // the next attempt starts with another version: one the tracker keeps failing on
        // (a bug of its own) does not hold back the others
        pending.delete(key)
        if (!withdrawn.has(key)) pending.set(key, v)
        await backoff(retryInMs, signal)
        continue
      }
      pending.delete(key)
      registered.add(key)
      status.registered()
      if (registered.size > MAX_REGISTERED_REMEMBERED) registered.delete(registered.values().next().value!)
      log('registered %s v%d (%s)', v.name, v.version, v.manifestCid)
      answered()
    }
  }

  /** Asks the tracker to mark a public version removed before the origin removes it. */
  const removalCheck = async (v: PublishedVersion, options: { signal?: AbortSignal }): Promise<void> => {
    if (v.private === true) return
    const key = keyOf(v)
    // a registration on the wire lands before the removal, or the tracker would keep a
    // version the origin no longer has
    withdrawn.add(key)
    if (posting?.key === key) await posting.done
    pending.delete(key)
    const both = options.signal === undefined ? signal : AbortSignal.any([signal, options.signal])
    try {
      await deleteVersion(base, init.token, v, both)
    } catch (err) {
      // the tracker's own "not found", not a proxy's: it never registered the version
      if (err instanceof TrackerAnswerError && err.status === 404 && err.code === 'ERR_NOT_FOUND') return
      // the version stays: one not yet registered goes back in the queue
      withdrawn.delete(key)
      if (!registered.has(key) && !signal.aborted) {
        pending.set(key, v)
        wake?.()
      }
      if (err instanceof TrackerAnswerError && err.status === 409 && err.code === 'ERR_VERSION_IN_USE')
        throw new VersionInUseError(`the tracker keeps ${v.name} v${v.version}: ${err.detail ?? err.message}`)
      const reason =
        err instanceof TrackerAnswerError
          ? err.tokenRefused
            ? `it refused the origin's tracker token (${err.message})`
            : `it answered ${err.message}`
          : `it cannot be reached (${reasonOf(err)})`
      throw new TrackerUnavailableError(
        `cannot ask the tracker at ${base} whether a node still uses ${v.name} v${v.version}: ${reason}; nothing was removed`,
        { cause: err },
      )
    }
    registered.delete(key)
    log('the tracker marked %s v%d removed', v.name, v.version)
  }

  const unsubscribe = origin.onVersion(enqueue)
  const unsubscribeRemoving = (origin as Partial<Origin>).onRemoving?.(removalCheck)
  origin
    .listVersions()
    .then((all) => {
      for (const v of all) enqueue(v)
    })
    .catch((err) => log.error('listing versions failed: %e', err))
  run().catch((err) => log.error('tracker registration stopped: %e', err))
  return () => {
    unsubscribe()
    unsubscribeRemoving?.()
    controller.abort()
    status.stopped()
  }
}
