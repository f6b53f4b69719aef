/**
 * How `dandelion fetch`, `limits`, `status` and `scrub` reach a running node daemon: its local HTTP
 * API (`--node`, `DANDELION_NODE_URL`), with its API token (`--token`,
 * `DANDELION_API_TOKEN`, or the `api-token` file of its data directory), a daemon that
 * cannot be reached or refuses the token said so in an operator's words.
 */
import { join } from 'node:path'
import { readToken } from '../api-token.ts'
import { envValue } from '../dandelion-env.ts'
import { DandelionError, InvalidConfigError } from '../errors.ts'
import { API_TOKEN_FILE } from './cli.ts'

/**
 * The daemon's API could not be reached (nothing listens there, or it went away midway).
 * Until session 14 this was fetch's bare "fetch failed".
 */
export class NodeUnreachableError extends DandelionError {
  override name = 'NodeUnreachableError'
  constructor(base: string, err: unknown) {
    // fetch's own error says only "fetch failed"; its cause says why (ECONNREFUSED, …)
    const cause = (err as Error).cause instanceof Error ? ((err as Error).cause as Error) : (err as Error)
    const why = cause.message
    super(
      `cannot reach the node daemon at ${base} (${why}): is "dandelion node" running, and is that its local API (--node, DANDELION_NODE_URL; its --playback-host/--playback-port)?`,
      'ERR_NODE_UNREACHABLE',
      { cause },
    )
  }
}

/** A bad argument of `fetch` or `limits`: a usage error, exit 2 like the daemon's config errors. */
export class UsageError extends InvalidConfigError {
  override name = 'UsageError'
}

/** `parseArgs` options every command that talks to the daemon takes: where it is, and its token. */
export const NODE_API_OPTIONS = {
  node: { type: 'string' },
  token: { type: 'string' },
  data: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const

/** Where a command finds the daemon, and with what token. */
export interface NodeApi {
  base: string
  token?: string
  /** Where the token was looked for, when it was looked for in a data directory. */
  tokenFile?: string
}

/** The daemon's local API and its token (flag, environment, or the data directory's file). */
export async function nodeApi(
  values: { node?: string; token?: string; data?: string },
  env: NodeJS.ProcessEnv,
): Promise<NodeApi> {
  // a variable left blank is unset, as everywhere (`envValue`)
  const base = (values.node ?? envValue(env, 'DANDELION_NODE_URL') ?? 'http://127.0.0.1:8090').replace(
    /\/+$/,
    '',
  )
  if (!URL.canParse(base) || !/^https?:$/.test(new URL(base).protocol))
    throw new UsageError(`--node (DANDELION_NODE_URL) must be an http:// URL; got ${JSON.stringify(base)}`)
  const dataDir = values.data ?? envValue(env, 'DANDELION_DATA')
  const explicit = values.token ?? envValue(env, 'DANDELION_API_TOKEN')
  if (explicit !== undefined || dataDir === undefined) return { base, token: explicit }
  const tokenFile = join(dataDir, API_TOKEN_FILE)
  return { base, token: await readToken(tokenFile), tokenFile }
}

/** `fetch` to the daemon's API; a daemon that cannot be reached is said so. */
export async function call(base: string, path: string, init: RequestInit): Promise<Response> {
  try {
    return await fetch(`${base}${path}`, init)
  } catch (err) {
    // the caller's own abort is not the daemon's failure
    if (init.signal?.aborted === true) throw err
    throw new NodeUnreachableError(base, err)
  }
}

/** Throws a clear error for a refused call to the daemon's API. */
export async function checkAnswer(res: Response, api: NodeApi): Promise<void> {
  if (res.status === 401 && api.token === undefined) {
    throw new Error(
      api.tokenFile === undefined
        ? 'the node needs its API token: pass --token, set DANDELION_API_TOKEN, or --data DIR'
        : `the node needs its API token, and there is none in ${api.tokenFile}: pass the daemon's --data DIR, or --token / DANDELION_API_TOKEN`,
    )
  }
  if (res.status === 403)
    throw new Error(
      'the node refused the API token (403): it is not the one this daemon uses (--token, DANDELION_API_TOKEN, or the api-token file of its --data DIR)',
    )
  if (!res.ok) throw new Error(`node answered ${res.status}: ${await res.text()}`)
}
