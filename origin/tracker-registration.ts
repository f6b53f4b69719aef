/**
 * Registers every version the origin publishes with the tracker
 * (`POST /api/v1/resources/:name/versions`), retrying with backoff while the tracker is
 * unreachable. The origin and the tracker never import each other: they talk over HTTP.
 * Private versions (homework photos uploaded with an upload grant) are not registered: the
 * tracker's catalog is what gets rolled out to campuses, and a child's photo is not content
 * for every campus, nor for the tracker's listings.
 */
import { logger } from '@libp2p/logger'
import type { Origin, PublishedVersion } from './index.ts'

const log = logger('dandelion:origin:tracker-registration')

/** Attempts per version before giving up (the next start registers it again). */
const REGISTER_MAX_ATTEMPTS = 10
/** First delay between attempts; doubles up to the cap. */
const REGISTER_BACKOFF_INITIAL_MS = 500
const REGISTER_BACKOFF_MAX_MS = 30_000

/** Options of {@link registerWithTracker}. */
export interface TrackerRegistrationInit {
  /** Tracker base URL, e.g. `http://127.0.0.1:7070`. */
  trackerUrl: string
  /** The tracker's admin bearer token. */
  token: string
}

/** Error answered by the tracker that retrying cannot fix (4xx other than 408/429). */
class PermanentError extends Error {
  override name = 'TrackerRegistrationRefusedError'
}

/**
 * Waits `ms`, or until `signal` aborts. `signal` lives as long as the registration, so the
 * abort listener is removed when the timer fires: left behind, one per retry would pile up
 * (a MaxListenersExceededWarning past 10) and keep every finished wait reachable.
 */
function backoff(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
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

/**
 * Subscribes to `origin.onVersion` and registers each new public version (manifest CID,
 * size, type) with the tracker; public versions already published are registered once at
 * start too (registration is idempotent on the tracker). Returns a function that stops it.
 */
export function registerWithTracker(origin: Origin, init: TrackerRegistrationInit): () => void {
  const controller = new AbortController()
  const base = init.trackerUrl.replace(/\/$/, '')

  const post = async (v: PublishedVersion): Promise<void> => {
    const res = await fetch(`${base}/api/v1/resources/${encodeURIComponent(v.name)}/versions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${init.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        version: v.version,
        manifestCid: v.manifestCid,
        size: v.size,
        type: v.type,
        mime: v.mime,
      }),
      signal: controller.signal,
    })
    if (res.ok) return
    const text = await res.text().catch(() => '')
    if (res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429)
      throw new PermanentError(`tracker refused ${v.name} v${v.version}: ${res.status} ${text}`)
    throw new Error(`tracker answered ${res.status}`)
  }

  const register = async (v: PublishedVersion): Promise<void> => {
    let delay = REGISTER_BACKOFF_INITIAL_MS
    for (let attempt = 1; ; attempt++) {
      try {
        await post(v)
        log('registered %s v%d (%s)', v.name, v.version, v.manifestCid)
        return
      } catch (err) {
        if (controller.signal.aborted) return
        if (err instanceof PermanentError || attempt >= REGISTER_MAX_ATTEMPTS) {
          log.error('registering %s v%d failed: %e', v.name, v.version, err)
          return
        }
        await backoff(delay, controller.signal)
        if (controller.signal.aborted) return
        delay = Math.min(delay * 2, REGISTER_BACKOFF_MAX_MS)
      }
    }
  }

  const unsubscribe = origin.onVersion((v) => {
    if (v.private === true) return
    register(v).catch((err) => log.error('registration of %s failed: %e', v.name, err))
  })
  origin
    .listVersions()
    .then(async (all) => {
      for (const v of all) if (v.private !== true) await register(v)
    })
    .catch((err) => log.error('listing versions failed: %e', err))
  return () => {
    unsubscribe()
    controller.abort()
  }
}
