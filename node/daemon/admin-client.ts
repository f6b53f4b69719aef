/**
 * The slice of the tracker's admin API (`/api/v1`) the walkthrough uses, over plain HTTP:
 * `node/` never imports `tracker/`, so the shapes it reads are declared here.
 */

/** The tracker answered with an error status. */
export class AdminApiError extends Error {
  override name = 'AdminApiError'
  readonly code: string
  readonly status: number
  constructor(status: number, code: string, message: string) {
    super(message)
    this.status = status
    this.code = code
  }
}

/** Node counts by state, as the tracker reports them. */
export type StateCounts = Record<
  'waiting' | 'pending' | 'fetching' | 'placed' | 'active' | 'failed' | 'reverting' | 'reverted',
  number
>

/** `GET /releases/:id` (the fields read here). */
export interface ReleaseStatusReport {
  release: { id: string; status: string; stage: number; resource: string; version: number }
  counts: StateCounts
  stages: Array<{ stage: number; percent: number; gate: string; nodes: number; counts: StateCounts }>
  cities: Record<string, StateCounts>
  campuses: Record<string, StateCounts>
  bytes: { peers: number; origin: number }
}

/** `GET /releases/:id/nodes` rows (the fields read here). */
export interface ReleaseNodeRow {
  nodeId: string
  stage: number
  state: keyof StateCounts
  reason?: string
  peerBytes: number
  originBytes: number
  campus?: string
  city?: string
}

/** A bearer-token client of one tracker's admin API. */
export class AdminClient {
  private readonly base: string
  private readonly token: string

  constructor(trackerUrl: string, token: string) {
    this.base = `${trackerUrl.replace(/\/+$/, '')}/api/v1`
    this.token = token
  }

  /** Calls the API and returns its JSON answer; throws {@link AdminApiError} on a non-2xx status. */
  async call<T>(
    method: string,
    path: string,
    body?: unknown,
    options: { signal?: AbortSignal } = {},
  ): Promise<T> {
    const res = await fetch(`${this.base}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${this.token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: options.signal,
    })
    const text = await res.text()
    const json = text === '' ? undefined : (JSON.parse(text) as unknown)
    if (!res.ok) {
      const err = (json as { error?: { code?: string; message?: string } } | undefined)?.error
      throw new AdminApiError(
        res.status,
        err?.code ?? 'ERR_HTTP',
        `${method} ${path}: ${res.status} ${err?.code ?? ''} ${err?.message ?? text}`.trim(),
      )
    }
    return json as T
  }

  /** `GET /releases/:id`. */
  status(id: string, options: { signal?: AbortSignal } = {}): Promise<ReleaseStatusReport> {
    return this.call('GET', `/releases/${encodeURIComponent(id)}`, undefined, options)
  }

  /** `GET /releases/:id/nodes`: every node of the release, page after page. */
  async nodes(id: string, options: { signal?: AbortSignal } = {}): Promise<ReleaseNodeRow[]> {
    const rows: ReleaseNodeRow[] = []
    let cursor: string | undefined
    do {
      const query = cursor === undefined ? '' : `&cursor=${encodeURIComponent(cursor)}`
      const page = await this.call<{ nodes: ReleaseNodeRow[]; next?: string }>(
        'GET',
        `/releases/${encodeURIComponent(id)}/nodes?limit=10000${query}`,
        undefined,
        options,
      )
      rows.push(...page.nodes)
      cursor = page.next
    } while (cursor !== undefined)
    return rows
  }
}
