/**
 * What the origin daemon tells its operator about the tracker it registers versions with:
 * a check of its token at start, on the banner's tracker line, and registration's
 * failures and recovery as they come, on stderr.
 */
import type { TrackerRegistrationEvent } from './tracker-registration.ts'

/** How long the origin waits, at start, for the tracker to answer its token check. */
const TRACKER_CHECK_MS = 5000

/**
 * Asks the tracker, once at start, whether it takes `token` (an authenticated read of its
 * catalog). Returns what the banner should add to the tracker line, so the operator reads
 * it beside the tracker's URL; registration's own failures come later, on stderr
 * ({@link registrationLine}).
 */
export async function checkTracker(trackerUrl: string, token: string): Promise<string> {
  try {
    const res = await fetch(`${trackerUrl.replace(/\/$/, '')}/api/v1/resources`, {
      headers: { authorization: `Bearer ${token}` },
      signal: AbortSignal.timeout(TRACKER_CHECK_MS),
      // as registration: a redirect is not followed (it would drop the token), but named
      redirect: 'manual',
    })
    if (res.ok) return ''
    if (res.status >= 300 && res.status < 400)
      return `  WARNING: the tracker URL redirects (${res.status} to ${res.headers.get('location') ?? 'nowhere named'}): no version is registered there; set --tracker-url to the tracker's own address`
    const body = (await res.json().catch(() => ({}))) as { error?: { code?: string } }
    const what = `${res.status}${body.error?.code === undefined ? '' : ` ${body.error.code}`}`
    if (res.status === 401 || res.status === 403)
      return `  WARNING: the tracker refused --tracker-token (${what}): no version is registered until it accepts it; use the tracker's admin token`
    return `  WARNING: the tracker answered ${what}; versions are registered once it accepts them`
  } catch (err) {
    const cause = (err as Error).cause instanceof Error ? ((err as Error).cause as Error) : (err as Error)
    return `  WARNING: the tracker cannot be reached now (${cause.message}); versions are retried until it answers`
  }
}

/** A registration event as the line the origin daemon prints on stderr. */
export function registrationLine(trackerUrl: string, e: TrackerRegistrationEvent): string {
  const prefix = 'dandelion origin: tracker registration:'
  switch (e.type) {
    case 'failing': {
      const next = `${e.pending} version(s) wait; next attempt in ${Math.round(e.retryInMs / 1000)} s (${e.attempts} failed in a row)`
      return e.tokenRefused
        ? `${prefix} ERROR: ${e.reason}: --tracker-token (DANDELION_ORIGIN_TRACKER_TOKEN) must be the admin token of the tracker at ${trackerUrl}; ${next}`
        : `${prefix} ERROR: ${e.reason} (tracker ${trackerUrl}); ${next}`
    }
    case 'refused':
      return `${prefix} ERROR: the tracker at ${trackerUrl} refused ${e.name} v${e.version} (${e.reason}); it is not registered`
    case 'recovered':
      return `${prefix} the tracker at ${trackerUrl} accepts registrations again (after ${e.attempts} failed attempts); ${e.pending} version(s) still wait`
  }
}
