/**
 * `dandelion rtc`: runs the signaling server and werift SFU until SIGINT/SIGTERM.
 * The secret may also come from `DANDELION_RTC_SECRET`, which keeps it out of `ps`.
 */
import { parseArgs } from 'node:util'
import { DEFAULT_HOST, DEFAULT_PORT } from './constants.ts'
import { InvalidConfigError } from './errors.ts'
import { createRtcServer } from './index.ts'

const USAGE = `usage: dandelion rtc [options]

  --port <n>       listening port (default ${DEFAULT_PORT})
  --host <addr>    listening address (default ${DEFAULT_HOST})
  --secret <s>     token signing secret, >= 16 chars (or DANDELION_RTC_SECRET)
  --origin <url>   origin base URL for homework photo uploads
  --shards <n>     worker threads for subscriber fan-out (default 0)
  --help           show this help
`

/** Parses `argv` (arguments after `rtc`), validates the config and runs the service. */
export async function runRtcCommand(argv: string[]): Promise<void> {
  let values: Record<string, string | boolean | undefined>
  try {
    values = parseArgs({
      args: argv,
      strict: true,
      options: {
        port: { type: 'string' },
        host: { type: 'string' },
        secret: { type: 'string' },
        origin: { type: 'string' },
        shards: { type: 'string' },
        help: { type: 'boolean' },
      },
    }).values
  } catch (err) {
    throw new InvalidConfigError(`${(err as Error).message}\n\n${USAGE}`)
  }
  if (values.help === true) {
    process.stdout.write(USAGE)
    return
  }
  const num = (v: unknown): number | undefined =>
    typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : (v as undefined)
  const config: Record<string, unknown> = { secret: values.secret ?? process.env.DANDELION_RTC_SECRET }
  if (values.port !== undefined) config.port = num(values.port)
  if (values.host !== undefined) config.host = values.host
  if (values.origin !== undefined) config.origin = values.origin
  if (values.shards !== undefined) config.shards = num(values.shards)
  const server = await createRtcServer({}, config)
  process.stdout.write(`rtc listening on ${server.url} (page at /, WebSocket at /ws)\n`)
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      server.close().then(resolve, resolve)
    }
    process.once('SIGINT', stop)
    process.once('SIGTERM', stop)
  })
}
