/** Child-process plumbing for the SFU benchmark. */
import { type ChildProcess, fork } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))

/** A forked helper answering `{op}` requests with `{op}` replies over IPC. */
export class Child {
  readonly proc: ChildProcess
  private readonly waiters: Array<{ op: string; resolve(m: Record<string, unknown>): void }> = []

  constructor(script: string, args: string[]) {
    // SFU_BENCH_PROF=<dir> writes a V8 CPU profile of the SFU process there
    const prof = process.env.SFU_BENCH_PROF
    const execArgv =
      prof !== undefined && script === 'sfu-process.ts' ? ['--cpu-prof', `--cpu-prof-dir=${prof}`] : undefined
    this.proc = fork(join(here, script), args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv })
    this.proc.on('message', (m: Record<string, unknown>) => {
      const i = this.waiters.findIndex((w) => w.op === m.op)
      if (i >= 0) this.waiters.splice(i, 1)[0].resolve(m)
    })
  }

  /** Waits for the next message with `op`. */
  wait<T = Record<string, unknown>>(op: string, timeoutMs = 120_000): Promise<T> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${op} timed out`)), timeoutMs)
      this.waiters.push({
        op,
        resolve: (m) => {
          clearTimeout(timer)
          resolve(m as T)
        },
      })
    })
  }

  /** Sends a request and waits for the reply `replyOp`. */
  ask<T = Record<string, unknown>>(
    msg: Record<string, unknown>,
    replyOp: string,
    timeoutMs?: number,
  ): Promise<T> {
    const p = this.wait<T>(replyOp, timeoutMs)
    this.proc.send(msg)
    return p
  }

  async close(): Promise<void> {
    if (this.proc.exitCode !== null) return
    const exited = new Promise((r) => this.proc.once('exit', r))
    this.proc.send({ op: 'close' })
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 10_000)
    await exited
    clearTimeout(t)
  }
}

/** Busy and total jiffies of the whole machine. */
export function machineCpu(): { busy: number; total: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number)
  const idle = f[3] + f[4]
  const total = f.reduce((a, b) => a + b, 0)
  return { busy: total - idle, total }
}

/** The p-quantile of `values` (0..1). */
export function quantile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN
  const s = [...values].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(p * s.length))]
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))
