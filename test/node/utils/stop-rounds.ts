/**
 * A service stopped as a service manager or a terminal stops it, for the group-signal tests
 * of the `dandelion` daemons: systemd's default (KillMode=control-group)
 * signals every process of the unit, so the service gets SIGTERM from it and again from
 * `dandelion`, which passes its own on; Ctrl-C signals the whole foreground group. Each
 * round must end in one graceful stop and status 0, however many signals came and whenever.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { readFile } from 'node:fs/promises'
import { expect, it } from 'vitest'
import { CLI } from './cli.ts'

/** How a round sends its signals: to the process group or to the command alone. */
export interface Round {
  name: string
  signal: NodeJS.Signals
  to: 'group' | 'command'
  /** How many at once, or `storm`: one every millisecond until the command exits. */
  times: number | 'storm'
  /**
   * When: at the ready line, or as soon as the service's own process exists, while Node
   * starts it (it used to die of the signal there, 143). @default 'ready'
   */
  at?: 'ready' | 'spawned'
}

/** The rounds every service passes; each test file adds its own SIGINT rounds. */
export const SIGTERM_ROUNDS: readonly Round[] = [
  { name: 'one SIGTERM to the group at the ready line', signal: 'SIGTERM', to: 'group', times: 1 },
  { name: 'two SIGTERMs to the group in quick succession', signal: 'SIGTERM', to: 'group', times: 2 },
  {
    name: 'two SIGTERMs to the group as soon as the service process exists',
    signal: 'SIGTERM',
    to: 'group',
    times: 2,
    at: 'spawned',
  },
  {
    name: 'SIGTERMs to the group every millisecond until it is gone',
    signal: 'SIGTERM',
    to: 'group',
    times: 'storm',
  },
  // `docker stop` with STOPSIGNAL SIGINT, `kill -INT` on the command: it used to reach no service
  { name: 'one SIGINT to the command alone', signal: 'SIGINT', to: 'command', times: 1 },
]

/** The service under test: how to start it and what it prints when ready and when stopping. */
export interface StoppedService {
  /** `dandelion` arguments and working directory of one run (a fresh data directory each). */
  start(): Promise<{ args: string[]; cwd?: string }>
  ready: RegExp
  stopping: RegExp
  /** Where the service says `stopping`: the tracker keeps its stdout for its JSON line. @default 'stdout' */
  stoppingOn?: 'stdout' | 'stderr'
  /** Started processes, killed (their groups) by the file's `afterEach`. */
  children: ChildProcess[]
}

/**
 * The rounds share this much time: one stuck past what is left is killed, so the file ends
 * within a minute even when a round hangs (a loaded machine takes seconds to start one).
 */
const BUDGET_MS = 50_000

/**
 * Resolves once `command` has started its service process (`dandelion` installs its own
 * handlers before that), as Linux lists it; polled every millisecond.
 */
async function serviceSpawned(command: ChildProcess): Promise<void> {
  const children = `/proc/${command.pid}/task/${command.pid}/children`
  while (command.exitCode === null && (await readFile(children, 'utf8').catch(() => '')).trim() === '')
    await new Promise((resolve) => setTimeout(resolve, 1))
}

/** How a round ended, and how long the command ran before its signals and after them. */
interface Outcome {
  code: number | null
  signal: string | null
  stdout: string
  /** What the service wrote where it says `stopping`. */
  said: string
  signalledMs: number
  stopMs: number
}

/** Runs the service as its own process group, signals it as `round` says, and waits for it to end. */
async function stopRound(service: StoppedService, round: Round, deadline: number): Promise<Outcome> {
  const { args, cwd } = await service.start()
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd,
    stdio: ['ignore', 'pipe', service.stoppingOn === 'stderr' ? 'pipe' : 'inherit'],
    detached: true,
  })
  service.children.push(child)
  const exited = once(child, 'exit') as Promise<[number | null, string | null]>
  const guard = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), Math.max(deadline - Date.now(), 0))
  const started = Date.now()
  let signalledAt: number | undefined
  let storm: NodeJS.Timeout | undefined
  const send = (): void => {
    try {
      process.kill(round.to === 'group' ? -child.pid! : child.pid!, round.signal)
    } catch {}
  }
  let stdout = ''
  let sent = false
  const signalNow = (): void => {
    sent = true
    signalledAt = Date.now()
    if (round.times === 'storm') storm = setInterval(send, 1)
    else for (let i = 0; i < round.times; i++) send()
  }
  if (round.at === 'spawned') void serviceSpawned(child).then(signalNow)
  child.stdout!.setEncoding('utf8').on('data', (text: string) => {
    stdout += text
    // at the ready line itself, as a unit stopped just after it started
    if (sent || round.at === 'spawned' || !service.ready.test(stdout)) return
    signalNow()
  })
  let stderr = ''
  child.stderr?.setEncoding('utf8').on('data', (text: string) => {
    stderr += text
  })
  const [code, signal] = await exited
  clearInterval(storm)
  clearTimeout(guard)
  const ended = Date.now()
  return {
    code,
    signal,
    stdout,
    said: service.stoppingOn === 'stderr' ? stderr : stdout,
    signalledMs: (signalledAt ?? ended) - started,
    stopMs: ended - (signalledAt ?? ended),
  }
}

/** One test per round: each stops the service once (none if stopped while Node starts it), status 0. */
export function stopRounds(service: StoppedService, rounds: readonly Round[]): void {
  const deadline = Date.now() + BUDGET_MS
  for (const round of rounds)
    it(`${round.name}: stops once, status 0`, { timeout: BUDGET_MS + 5_000 }, async () => {
      const { code, signal, stdout, said, signalledMs, stopMs } = await stopRound(service, round, deadline)
      expect(
        { code, signal },
        `signalled after ${signalledMs} ms, ended ${stopMs} ms later:\n${stdout}${said === stdout ? '' : said}`,
      ).toEqual({
        code: 0,
        signal: null,
      })
      const stops = said.match(new RegExp(service.stopping.source, 'g'))?.length ?? 0
      if (round.at === 'spawned') expect(stops).toBeLessThanOrEqual(1)
      else expect(stops).toBe(1)
    })
}
