/**
 * `dandelion demo` (what `npm start` runs): the walkthrough's command line, its flags
 * checked and Ctrl-C / SIGTERM / SIGHUP turned into a teardown. The walkthrough itself,
 * a staged release on loopback with every service a real `dandelion` child process, is
 * `runWalkthrough` in `walkthrough-run.ts`, re-exported here.
 */
import { parseArgs } from 'node:util'
import { InvalidConfigError } from '../errors.ts'
import { runWalkthrough } from './walkthrough-run.ts'

export {
  runWalkthrough,
  type WalkthroughOptions,
  type WalkthroughResult,
  WalkthroughTimeoutError,
} from './walkthrough-run.ts'

const MiB = 1024 * 1024

const HELP = `usage: dandelion demo [--nodes N] [--devices N] [--size-mib N] [--canary-percent P]

Walks through a staged release on loopback: starts a tracker, an origin registering its
versions with it, N campus node daemons (default 6) in two cities and three campuses and a
lamp device (default 1), all enrolled with the tracker; uploads a generated lesson
(default 32 MiB), approves it and releases it in two stages (a canary, then 100%, auto
gate), showing each stage's progress; plays it back by name from every node and checks
the bytes; then stops everything (also on Ctrl-C).
`

/** `dandelion demo` (what `npm start` runs). */
export async function runWalkthroughCommand(
  argv: string[],
  io: { stdout?: (line: string) => void } = {},
): Promise<void> {
  const out = io.stdout ?? ((l: string) => process.stdout.write(`${l}\n`))
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      nodes: { type: 'string' },
      devices: { type: 'string' },
      'size-mib': { type: 'string' },
      'canary-percent': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  })
  if (values.help === true) {
    out(HELP)
    return
  }
  const int = (flag: string, v: string | undefined, min: number, max: number): number | undefined => {
    if (v === undefined) return undefined
    const n = Number(v)
    if (!Number.isInteger(n) || n < min || n > max)
      throw new InvalidConfigError(`--${flag} must be an integer in ${min}..${max}`)
    return n
  }
  const stop = new AbortController()
  // The first signal tears everything down in order (nodes, then the services); another one
  // while that runs ends this process at once, and its 'exit' handler (runWalkthrough) kills
  // every process group. With `once`, a second Ctrl-C killed this process by default, 'exit'
  // handler and all: the tracker and the origin, not signalled yet, ran on for ever. A
  // closed terminal (SIGHUP) killed it the same way before anything was torn down.
  const onSignal = (): void => {
    if (!stop.signal.aborted) stop.abort(new Error('interrupted'))
    else process.exit(130)
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  process.on('SIGHUP', onSignal)
  try {
    await runWalkthrough({
      campusNodes: int('nodes', values.nodes, 1, 30),
      devices: int('devices', values.devices, 0, 10),
      fileBytes: (int('size-mib', values['size-mib'], 1, 4096) ?? 32) * MiB,
      canaryPercent: int('canary-percent', values['canary-percent'], 1, 99),
      stdout: out,
      signal: stop.signal,
    })
  } catch (err) {
    // Ctrl-C or SIGTERM: everything is already torn down; not an error to report
    if (!stop.signal.aborted) throw err
    out('interrupted: every process stopped')
    process.exitCode = 130
  } finally {
    process.removeListener('SIGINT', onSignal)
    process.removeListener('SIGTERM', onSignal)
    process.removeListener('SIGHUP', onSignal)
  }
}
