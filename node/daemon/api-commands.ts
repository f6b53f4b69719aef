/**
 * Commands that talk to a running node daemon through its local HTTP API:
 * `dandelion fetch CID` places content and follows it to completion (`POST /fetch`),
 * `dandelion limits [--upload B/S] [--download B/S] [--origin B/S]` changes its rates
 * (`PUT /limits`). How they reach the daemon, and with what token, is `node-api-client.ts`.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { parseArgs } from 'node:util'
import { DandelionError } from '../errors.ts'
import type { CommandIo } from './cli.ts'
import { call, checkAnswer, NODE_API_OPTIONS, nodeApi, UsageError } from './node-api-client.ts'

/** How long `dandelion fetch` waits for the download to start, by default. */
export const FETCH_START_TIMEOUT_S = 30
/** How often `dandelion fetch` asks the daemon for progress. */
const FETCH_POLL_MS = 500

/** The daemon's download stopped with an error (e.g. its store refused a chunk). */
export class FetchFailedError extends DandelionError {
  override name = 'FetchFailedError'
  constructor(manifestCid: string, reason: string) {
    super(`fetching ${manifestCid} failed: ${reason}`, 'ERR_FETCH_FAILED')
  }
}

/** The origin part of the daemon's `GET /status`. */
interface OriginStatus {
  url: string
  consecutiveFailures: number
}

/**
 * The download did not start in time: the daemon could not begin it (too many downloads
 * at once) or nobody it can reach has the manifest. When the daemon's origin has been
 * failing, the message says so: a manifest signed by a key the node does not trust
 * (`--trusted-origin` set to another key) counts as a failure of the origin, and until
 * then this error blamed only a manifest nobody has.
 */
export class FetchNotStartedError extends DandelionError {
  override name = 'FetchNotStartedError'
  /**
   * @param reason why the daemon says it could not begin (its status names an error for the
   * swarm before it had the manifest: one signed by a key the node does not trust)
   * @param looking the daemon still has the download (its swarm is in its status): it goes on
   * looking for the manifest after this command gives up, which the operator must know
   */
  constructor(
    manifestCid: string,
    seconds: number,
    origin?: OriginStatus | null,
    reason?: string,
    looking?: boolean,
  ) {
    const why =
      origin === null
        ? '; the node has no --origin to ask'
        : origin !== undefined && origin.consecutiveFailures > 0
          ? `; its origin ${origin.url} has failed ${origin.consecutiveFailures} times in a row (unreachable, erring, or sending a manifest that does not verify: is --trusted-origin the key the origin prints as "origin key"?)`
          : ''
    // Until now the operator was not told that the download goes on: a node whose origin was
    // down placed the content minutes after "dandelion fetch" had failed.
    const next =
      looking === true
        ? '. The node keeps looking for it and places it once a peer or its origin has it (after a restart too): run "dandelion fetch" again to follow it'
        : looking === false
          ? '. The node has no download of it now (it could not take another one): run "dandelion fetch" again later'
          : ''
    super(
      reason === undefined
        ? `fetching ${manifestCid} did not start within ${seconds} s: the node found no manifest for it (no peer or origin has it) or is busy with too many downloads${why}${next}`
        : `fetching ${manifestCid} cannot start: ${reason}${why}`,
      'ERR_FETCH_NOT_STARTED',
    )
  }
}

export const FETCH_HELP = `usage: dandelion fetch MANIFEST_CID [--node URL] [--token TOKEN | --data DIR] [--start-timeout SECONDS]

Asks the node daemon at URL (its local API; DANDELION_NODE_URL, default http://127.0.0.1:8090)
to place the content, and prints progress until every chunk is verified and stored.
Bad arguments exit 2. Fails (exit 1) if the daemon cannot be reached, if the download
stops with an error (e.g. the node's store refuses chunks),
or has not started within --start-timeout seconds (default ${FETCH_START_TIMEOUT_S}): the node
has not found the manifest, or cannot take another download.
The daemon's API token: --token or DANDELION_API_TOKEN, else read from the daemon's data
directory (--data or DANDELION_DATA, file api-token).
`

/** Places content on a running daemon and follows it to completion. */
export async function runFetchCommand(argv: string[], io: CommandIo = {}): Promise<void> {
  const out = io.stdout ?? ((l: string) => process.stdout.write(`${l}\n`))
  const { values, positionals } = parseArgs({
    args: argv,
    options: { 'start-timeout': { type: 'string' }, ...NODE_API_OPTIONS },
    allowPositionals: true,
    strict: true,
  })
  if (values.help === true || positionals.length !== 1) {
    out(FETCH_HELP)
    if (values.help !== true) throw new UsageError('expected exactly one MANIFEST_CID')
    return
  }
  const startTimeoutText = values['start-timeout']
  const startTimeoutS = startTimeoutText === undefined ? FETCH_START_TIMEOUT_S : Number(startTimeoutText)
  if (!(Number.isFinite(startTimeoutS) && startTimeoutS > 0 && startTimeoutText?.trim() !== ''))
    throw new UsageError(
      `--start-timeout must be a positive number of seconds; got ${JSON.stringify(startTimeoutText)}`,
    )
  const api = await nodeApi(values, io.env ?? process.env)
  const { base, token } = api
  const cid = positionals[0]
  const res = await call(base, `/fetch/${encodeURIComponent(cid)}`, {
    method: 'POST',
    headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
    signal: io.signal,
  })
  // a mistyped CID is a bad argument (exit 2), not a failure of the daemon
  if (res.status === 400) {
    const body = (await res
      .clone()
      .json()
      .catch(() => ({}))) as { error?: string; message?: string }
    if (body.error === 'InvalidCidError') throw new UsageError(body.message ?? `malformed CID ${cid}`)
  }
  await checkAnswer(res, api)
  // POST /fetch answers once the download is recorded, before it starts: its later failures show only in /status
  const startBy = performance.now() + startTimeoutS * 1000
  let errorsInARow = 0
  for (;;) {
    const status = (await (await call(base, '/status', { signal: io.signal })).json()) as {
      swarms: Array<{
        manifestCid: string
        chunksDone: number
        chunksTotal: number
        bytesFromPeers: number
        bytesFromOrigin: number
        complete: boolean
        error?: string
      }>
      origin?: OriginStatus
    }
    const s = status.swarms.find((x) => x.manifestCid === cid)
    // a swarm lists no chunks until it has the manifest
    const started = s !== undefined && (s.complete || s.chunksTotal > 0)
    if (!started && performance.now() >= startBy)
      throw new FetchNotStartedError(cid, startTimeoutS, status.origin ?? null, undefined, s !== undefined)
    if (s !== undefined) {
      out(
        JSON.stringify({
          event: 'progress',
          chunksDone: s.chunksDone,
          chunksTotal: s.chunksTotal,
          bytesFromPeers: s.bytesFromPeers,
          bytesFromOrigin: s.bytesFromOrigin,
        }),
      )
      if (s.complete) {
        out(JSON.stringify({ event: 'done', manifestCid: cid }))
        return
      }
      // an error left by an earlier attempt stands until this one begins: believe it twice in a row
      errorsInARow = s.error === undefined ? 0 : errorsInARow + 1
      if (s.error !== undefined && errorsInARow >= 2)
        throw started
          ? new FetchFailedError(cid, s.error)
          : new FetchNotStartedError(cid, startTimeoutS, status.origin ?? null, s.error)
    }
    await sleep(FETCH_POLL_MS, undefined, { signal: io.signal })
  }
}

export const LIMITS_HELP = `usage: dandelion limits [--upload B/S] [--download B/S] [--origin B/S] [--node URL] [--token TOKEN | --data DIR]

Changes the rates of the node daemon at URL while it runs (its local API, PUT /limits;
DANDELION_NODE_URL, default http://127.0.0.1:8090), then prints them. Rates are bytes per
second, or "none" for no limit; a rate not given is kept. With no rate, prints the current
ones. The daemon's API token is found as for "dandelion fetch".
`

/** Changes (or shows) a running daemon's upload, download and origin rates. */
export async function runLimitsCommand(argv: string[], io: CommandIo = {}): Promise<void> {
  const out = io.stdout ?? ((l: string) => process.stdout.write(`${l}\n`))
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      upload: { type: 'string' },
      download: { type: 'string' },
      origin: { type: 'string' },
      ...NODE_API_OPTIONS,
    },
    allowPositionals: true,
    strict: true,
  })
  if (values.help === true || positionals.length > 0) {
    out(LIMITS_HELP)
    if (values.help !== true) throw new UsageError(`unexpected argument ${positionals[0]}`)
    return
  }
  const body: Record<string, number | null> = {}
  const rate = (flag: string, text: string): number | null => {
    if (text === 'none') return null
    const n = Number(text)
    if (!(Number.isFinite(n) && n > 0 && text.trim() !== ''))
      throw new UsageError(
        `--${flag} must be a positive number of bytes per second, or "none"; got ${JSON.stringify(text)}`,
      )
    return n
  }
  if (values.upload !== undefined) body.uploadBytesPerSecond = rate('upload', values.upload)
  if (values.download !== undefined) body.downloadBytesPerSecond = rate('download', values.download)
  if (values.origin !== undefined) body.originBytesPerSecond = rate('origin', values.origin)
  const api = await nodeApi(values, io.env ?? process.env)
  const { base, token } = api
  const change = Object.keys(body).length > 0
  const res = await call(base, '/limits', {
    method: change ? 'PUT' : 'GET',
    headers: {
      ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
      ...(change ? { 'content-type': 'application/json' } : {}),
    },
    body: change ? JSON.stringify(body) : undefined,
    signal: io.signal,
  })
  await checkAnswer(res, api)
  out(JSON.stringify({ event: 'limits', ...((await res.json()) as object) }))
}
