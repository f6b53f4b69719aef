/**
 * `dandelion rtc`: runs the signaling server and werift SFU until SIGINT/SIGTERM.
 * The secret may also come from `DANDELION_RTC_SECRET`, which keeps it out of `ps`; the
 * previous secrets of a rotation from `DANDELION_RTC_PREVIOUS_SECRETS` (comma-separated); the
 * STUN/TURN servers from `DANDELION_RTC_ICE_SERVERS` (`ice-servers.ts`), the TURN server's shared
 * secret from `DANDELION_RTC_TURN_SECRET` (`turn-credentials.ts`); every variable is named in
 * `env.ts`, and a blank one is unset.
 */
import { parseArgs } from 'node:util'
import { holdStopSignals } from '../node/cli-main.ts'
import { DEFAULT_GRANT_KEY_FILE, DEFAULT_HOST, DEFAULT_PORT, PHOTO_MAX_BYTES } from './constants.ts'
import { RTC_ENV, rtcEnvValue, warnMisspeltRtcEnv } from './env.ts'
import { InvalidConfigError } from './errors.ts'
import { iceServersFromEnv, parseIceServerArg } from './ice-servers.ts'
import { createRtcServer } from './index.ts'

const USAGE = `usage: dandelion rtc [options]

  --port <n>       listening port (default ${DEFAULT_PORT})
  --host <addr>    listening address (default ${DEFAULT_HOST})
  --secret <s>     token signing secret, >= 16 chars (or DANDELION_RTC_SECRET)
  --previous-secret <s>    a secret tokens were signed with before a rotation: still
                   accepted, never used to sign (repeatable; or
                   DANDELION_RTC_PREVIOUS_SECRETS, comma-separated)
  --origin <url>   origin base URL for homework photo uploads; lamps upload with
                   grants signed by this server (start the origin with
                   --grant-issuer <the id printed at start>)
  --grant-key-file <path>  key the photo upload grants are signed with, created if
                   absent (default ${DEFAULT_GRANT_KEY_FILE})
  --photo-max-bytes <n>    largest homework photo a grant allows (default ${PHOTO_MAX_BYTES})
  --shards <n>     worker threads for subscriber fan-out (default 0)
  --ice-server <s> a STUN or TURN server for lamps and pages behind NAT, used by
                   the SFU and told to every client after its hello (repeatable):
                   stun:host[:port]
                   turn:user:credential@host[:port][?transport=udp|tcp]
                   turns:user:credential@host[:port]
                   (user and credential percent-encoded), or one RTCIceServer as
                   JSON. Or DANDELION_RTC_ICE_SERVERS, which keeps TURN credentials
                   out of \`ps\`: those separated by blanks or commas, or a JSON array
  --turn-secret <s>  the TURN server's shared secret (coturn: use-auth-secret,
                   static-auth-secret=<s>), >= 16 chars (or DANDELION_RTC_TURN_SECRET):
                   a turn: server given without credentials (turn:host:3478) gets
                   credentials minted per client, expiring, instead of one static pair
  --ops-token <t>  opens GET /api/rooms and /api/rooms/<id> (live rooms, who is in them,
                   the call, stage and hands) to this bearer token, >= 16 chars (or
                   DANDELION_RTC_OPS_TOKEN); without it those routes do not exist
  --turn-ttl <t>   how long minted TURN credentials last: seconds, or 90m, 12h, 2d
                   (default 24h; clients get new ones at half of it)
  -h, --help       show this help
`

/** Options of {@link runRtcCommand}. */
export interface RunRtcOptions {
  /**
   * Stops the server (gracefully) once aborted.
   * @default the process's first SIGTERM or SIGINT ({@link holdStopSignals})
   */
  signal?: AbortSignal
  /**
   * The environment its secrets come from (where no flag gives them).
   * @default process.env
   */
  env?: NodeJS.ProcessEnv
}

/** Parses `argv` (arguments after `rtc`), validates the config and runs the service until it is stopped. */
export async function runRtcCommand(argv: string[], options: RunRtcOptions = {}): Promise<void> {
  let values: Record<string, string | boolean | string[] | undefined>
  try {
    values = parseArgs({
      args: argv,
      strict: true,
      options: {
        port: { type: 'string' },
        host: { type: 'string' },
        secret: { type: 'string' },
        'previous-secret': { type: 'string', multiple: true },
        origin: { type: 'string' },
        'grant-key-file': { type: 'string' },
        'photo-max-bytes': { type: 'string' },
        shards: { type: 'string' },
        'ice-server': { type: 'string', multiple: true },
        'turn-secret': { type: 'string' },
        'turn-ttl': { type: 'string' },
        'ops-token': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }).values
  } catch (err) {
    throw new InvalidConfigError(`${(err as Error).message}\n\n${USAGE}`)
  }
  if (values.help === true) {
    process.stdout.write(USAGE)
    return
  }
  const env = options.env ?? process.env
  warnMisspeltRtcEnv(env, (line) => process.stderr.write(`${line}\n`))
  const num = (v: unknown): number | undefined =>
    typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : (v as undefined)
  const secret = values.secret ?? rtcEnvValue(env, 'secret')
  // the schema's own words ("/ must have required property 'secret'") name no flag
  if (secret === undefined || secret === '')
    throw new InvalidConfigError(
      `no token signing secret${env[RTC_ENV.secret] === '' ? ` (${RTC_ENV.secret} is empty)` : ''}: ` +
        `set ${RTC_ENV.secret} (kept out of \`ps\`) or --secret, at least 16 characters`,
    )
  const config: Record<string, unknown> = { secret }
  const previous = values['previous-secret'] ?? previousSecretsFromEnv(rtcEnvValue(env, 'previousSecrets'))
  if (previous !== undefined) config.previousSecrets = previous
  if (values.port !== undefined) config.port = num(values.port)
  if (values.host !== undefined) config.host = values.host
  if (values.origin !== undefined) config.origin = values.origin
  if (values.shards !== undefined) config.shards = num(values.shards)
  if (values['grant-key-file'] !== undefined) config.grantKeyFile = values['grant-key-file']
  if (values['photo-max-bytes'] !== undefined) config.photoMaxBytes = num(values['photo-max-bytes'])
  const flags = values['ice-server'] as string[] | undefined
  const iceServers =
    flags?.map((v) => parseIceServerArg(v)) ?? iceServersFromEnv(rtcEnvValue(env, 'iceServers'))
  if (iceServers !== undefined) config.iceServers = iceServers
  // blank is unset: no TURN secret (a turn: server without credentials is then refused) and
  // no ops token (its routes do not exist), both stricter than any value
  const turnSecret = (values['turn-secret'] as string | undefined) ?? rtcEnvValue(env, 'turnSecret')
  if (turnSecret !== undefined && turnSecret !== '') config.turnSecret = turnSecret
  const opsToken = (values['ops-token'] as string | undefined) ?? rtcEnvValue(env, 'opsToken')
  if (opsToken !== undefined && opsToken !== '') config.opsToken = opsToken
  if (values['turn-ttl'] !== undefined) config.turnTtlSeconds = ttlSeconds(values['turn-ttl'] as string)
  // before the server exists: a SIGTERM while it starts, even before this module loaded
  // (rtc/main.ts holds the signals from its first line), stops it once it is up
  const signal = options.signal ?? holdStopSignals({ secondSigintExits: true })
  const server = await createRtcServer({}, config)
  // aborted once, however many signals came: a group SIGTERM (systemd's
  // KillMode=control-group) reaches the server twice, `dandelion rtc` passing its own on
  const stopped = new Promise<void>((resolve, reject) => {
    const stop = (): void => {
      process.stdout.write('stopping rtc…\n')
      server.close().then(resolve, reject)
    }
    if (signal.aborted) stop()
    else signal.addEventListener('abort', stop, { once: true })
  })
  // the ready line only for a server that is not already stopping
  if (!signal.aborted) {
    process.stdout.write(`rtc listening on ${server.url} (page at /, WebSocket at /ws)\n`)
    if (server.grantIssuer !== undefined)
      process.stdout.write(
        `photo upload grants signed by ${server.grantIssuer}: start the origin with --grant-issuer ${server.grantIssuer}\n`,
      )
  }
  await stopped
}

/** `--turn-ttl`: seconds, or a number of s, m, h or d; the config checks the range. */
function ttlSeconds(text: string): number {
  const m = /^(\d+)\s*(s|m|h|d)?$/.exec(text.trim())
  if (m === null)
    throw new InvalidConfigError(
      `--turn-ttl ${JSON.stringify(text)}: seconds, or a duration such as 90m, 12h or 2d`,
    )
  return Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86400 }[(m[2] ?? 's') as 's']
}

/** `DANDELION_RTC_PREVIOUS_SECRETS`: comma-separated, blanks around commas ignored. */
function previousSecretsFromEnv(text: string | undefined): string[] | undefined {
  if (text === undefined) return undefined
  return text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
}
