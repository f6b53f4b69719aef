/**
 * Child `dandelion` processes for the walkthrough: each runs in its own process group
 * (a service command spawns its own child, which must go too), its stdout is read line by
 * line to parse the banner, and the tail of its stderr is kept for error messages.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { logger } from '@libp2p/logger'

const log = logger('dandelion:node:walkthrough:process')

/** The `dandelion` command's entry, run with this process's Node. */
const CLI = fileURLToPath(new URL('../cli.ts', import.meta.url))

/** Lines of stderr kept per process for error messages. */
const STDERR_TAIL_LINES = 20
/** Lines of stdout kept per process (banners are parsed from them). */
const STDOUT_KEEP_LINES = 200
/** How long a process may take to stop after SIGINT before its group is killed. */
export const STOP_GRACE_MS = 5_000

/** A child process failed (exited early, or printed no banner). */
export class ChildProcessError extends Error {
  override name = 'ChildProcessError'
  readonly code = 'ERR_CHILD_PROCESS'
}

/** A running `dandelion <command>` child. */
export class DandelionProcess {
  readonly label: string
  readonly child: ChildProcess
  readonly lines: string[] = []
  private readonly stderrTail: string[] = []
  private readonly exited: Promise<void>
  private readonly waiters = new Set<() => void>()
  private closed = false

  constructor(label: string, args: string[], env: NodeJS.ProcessEnv) {
    this.label = label
    // detached: its own process group, so teardown reaches the service process it spawns
    this.child = spawn(process.execPath, [CLI, ...args], {
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env,
    })
    // a failed spawn is reported through 'close' (and waitFor's error), not as a crash
    this.child.on('error', (err) => {
      log.error('%s: %s', label, err.message)
      this.stderrTail.push(err.message)
    })
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      this.lines.push(line)
      if (this.lines.length > STDOUT_KEEP_LINES) this.lines.shift()
      for (const wake of this.waiters) wake()
    })
    createInterface({ input: this.child.stderr! }).on('line', (line) => {
      log('%s stderr: %s', label, line)
      this.stderrTail.push(line)
      if (this.stderrTail.length > STDERR_TAIL_LINES) this.stderrTail.shift()
    })
    // 'close', not 'exit': every line it printed has been read, and the service process
    // it spawned (which shares its stdio) is gone too
    this.exited = new Promise((resolve) => {
      this.child.once('close', () => {
        this.closed = true
        for (const wake of this.waiters) wake()
        resolve()
      })
    })
  }

  /** Has the process exited? */
  get done(): boolean {
    return this.closed
  }

  /** Resolves with the first stdout line `parse` accepts; rejects if the process exits first. */
  async waitFor<T>(
    parse: (line: string) => T | undefined,
    options: { signal?: AbortSignal } = {},
  ): Promise<T> {
    for (;;) {
      for (const line of this.lines) {
        const v = parse(line)
        if (v !== undefined) return v
      }
      if (this.done) throw this.failure('exited before it printed what was expected')
      options.signal?.throwIfAborted()
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          this.waiters.delete(wake)
          options.signal?.removeEventListener('abort', wake)
          resolve()
        }
        this.waiters.add(wake)
        options.signal?.addEventListener('abort', wake, { once: true })
      })
    }
  }

  /** Resolves once the process exits with status 0; rejects otherwise. */
  async success(options: { signal?: AbortSignal } = {}): Promise<void> {
    if (!this.done) {
      options.signal?.throwIfAborted()
      let onAbort: (() => void) | undefined
      const aborted = new Promise<never>((_, reject) => {
        onAbort = () => reject(options.signal?.reason)
        options.signal?.addEventListener('abort', onAbort, { once: true })
      })
      try {
        await Promise.race([this.exited, aborted])
      } finally {
        if (onAbort !== undefined) options.signal?.removeEventListener('abort', onAbort)
      }
    }
    if (this.child.exitCode !== 0)
      throw this.failure(`exited with ${this.child.exitCode ?? this.child.signalCode}`)
  }

  /** An error naming the process, with the tail of its stderr. */
  failure(what: string): ChildProcessError {
    const tail = this.stderrTail.length === 0 ? '' : `:\n  ${this.stderrTail.join('\n  ')}`
    return new ChildProcessError(`${this.label} ${what}${tail}`)
  }

  /**
   * Stops the process group: SIGINT (what Ctrl-C would send; each daemon stops gracefully
   * on it), then SIGKILL after {@link STOP_GRACE_MS} to whatever is left of the group.
   */
  async stop(): Promise<void> {
    this.signalGroup('SIGINT')
    let timer: NodeJS.Timeout | undefined
    await Promise.race([this.exited, new Promise((r) => (timer = setTimeout(r, STOP_GRACE_MS)))])
    clearTimeout(timer)
    this.signalGroup('SIGKILL')
    await this.exited
  }

  /** Sends a signal to the whole group; a group that is already gone is fine. */
  signalGroup(signal: NodeJS.Signals): void {
    if (this.child.pid === undefined) return
    try {
      process.kill(-this.child.pid, signal)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err
    }
  }
}

/** The environment children run with: this one's, minus `DANDELION_*` settings meant for us. */
export function childEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('DANDELION_')))
}
