/**
 * `dandelion scrub [--node URL] [--token T | --data DIR] [--wait]`: starts a scrub pass on a
 * running node daemon (`POST /scrub`: every stored chunk read back and hashed, a corrupt one
 * dropped and fetched again, `node/scrub.ts`) and, with `--wait`, follows it to its end and
 * says what it found. How it reaches the daemon, and with what token, is `node-api-client.ts`.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { parseArgs } from 'node:util'
import { DandelionError } from '../errors.ts'
import type { ScrubStatus } from '../index.ts'
import type { CommandIo } from './cli.ts'
import { call, checkAnswer, NODE_API_OPTIONS, nodeApi, UsageError } from './node-api-client.ts'

export const SCRUB_HELP = `usage: dandelion scrub [--node URL] [--token T | --data DIR] [--wait]

Starts a scrub pass on the node daemon at URL (its local API; DANDELION_NODE_URL, default
http://127.0.0.1:8090): every chunk its store holds is read back and hashed, and one the disk
changed is dropped and fetched again from peers. The pass reads at the daemon's --scrub-rate;
one already under way is joined. Needs the daemon's API token (--token, DANDELION_API_TOKEN,
or the api-token file of its --data DIR).
  --wait   follow the pass to its end (a line every few seconds) and print what it found
Prints JSON lines: "scrub-started", then with --wait "scrub" (progress) and "scrub-done".
Exits 1 when the daemon cannot be reached or does not scrub (no on-disk store of its own).
`

/** How often `--wait` asks the daemon how the pass goes. */
const SCRUB_POLL_MS = 2_000

/** The node does not scrub: no on-disk store of its own (a store in memory, or given to it). */
export class ScrubRefusedError extends DandelionError {
  override name = 'ScrubRefusedError'
  constructor(message: string) {
    super(`the node refused the scrub: ${message}`, 'ERR_SCRUB_REFUSED')
  }
}

/** Starts a scrub on a running daemon and, with `--wait`, follows it. */
export async function runScrubCommand(argv: string[], io: CommandIo = {}): Promise<void> {
  const out = io.stdout ?? ((l: string) => process.stdout.write(`${l}\n`))
  const { values, positionals } = parseArgs({
    args: argv,
    options: { wait: { type: 'boolean' }, ...NODE_API_OPTIONS },
    allowPositionals: true,
    strict: true,
  })
  if (values.help === true || positionals.length > 0) {
    out(SCRUB_HELP)
    if (values.help !== true) throw new UsageError(`unexpected argument ${positionals[0]}`)
    return
  }
  const api = await nodeApi(values, io.env ?? process.env)
  const { base, token } = api
  const res = await call(base, '/scrub', {
    method: 'POST',
    headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
    signal: io.signal,
  })
  if (res.status === 409) throw new ScrubRefusedError(((await res.json()) as { message: string }).message)
  await checkAnswer(res, api)
  const started = (await res.json()) as { scrub: ScrubStatus }
  out(JSON.stringify({ event: 'scrub-started', ...started.scrub }))
  if (values.wait !== true) return
  for (;;) {
    await sleep(SCRUB_POLL_MS, undefined, { signal: io.signal })
    const status = await call(base, '/status', { signal: io.signal })
    await checkAnswer(status, api)
    const scrub = ((await status.json()) as { scrub?: ScrubStatus }).scrub
    if (scrub === undefined)
      throw new ScrubRefusedError('the daemon no longer reports a scrub (was it restarted?)')
    if (!scrub.running) {
      out(JSON.stringify({ event: 'scrub-done', ...scrub }))
      return
    }
    out(JSON.stringify({ event: 'scrub', ...scrub }))
  }
}
