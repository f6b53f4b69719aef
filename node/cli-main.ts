/**
 * Runs one CLI command function and turns its outcome into an exit status: a typed
 * configuration or usage error exits 2 with its message, any other error exits 1, a
 * numeric result is the exit code. Shared by every service's `main.ts`.
 */
import { closeSync, writeSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

/** A command: resolves when done (daemons: when stopped); a number is an exit code. */
export type CommandFn = (argv: string[]) => Promise<unknown>

/** Runs `commands[name]` with `argv`; prints errors as `dandelion <name>: <message>`. */
export async function runCommand(
  commands: Record<string, CommandFn>,
  name: string,
  argv: string[],
): Promise<void> {
  const command = commands[name]
  if (command === undefined) {
    process.stderr.write(`dandelion: unknown command "${name}"\n`)
    process.exitCode = 2
    return
  }
  try {
    const code = await command(argv)
    if (typeof code === 'number' && code !== 0) process.exitCode = code
  } catch (err) {
    const e = err as Error & { code?: string }
    const usage = e.code === 'ERR_INVALID_CONFIG' || e.code?.startsWith('ERR_PARSE_ARGS') === true
    process.stderr.write(`dandelion ${name}: ${errorText(e)}\n`)
    if (process.env.DEBUG !== undefined && e.stack !== undefined) process.stderr.write(`${e.stack}\n`)
    process.exitCode = usage ? 2 : 1
  }
}

/** How {@link holdStopSignals} treats SIGINT. */
export interface StopSignalsInit {
  /**
   * A second SIGINT (Ctrl-C pressed again, for a graceful stop that hangs) ends the process
   * at once with status 130, what a shell reports for a process Ctrl-C killed; otherwise it is
   * ignored like every SIGTERM after the first.
   * @default false
   */
  secondSigintExits?: boolean
}

/**
 * A service process's stop request, aborted by its first SIGTERM or SIGINT; every later one
 * does nothing. Call it in the process entry before the service's modules load, and end
 * the process with `process.exit()` once the service has stopped: the handlers stay
 * installed until the process is gone.
 *
 * A service gets its stop signal more than once as a rule: systemd's default
 * (KillMode=control-group) signals every process of the unit, `kill -- -PGID` and Ctrl-C
 * the whole process group, and `dandelion` passes its own on besides, since nothing tells
 * it whether the service got the signal too (the kernel reports a group's signal like one
 * sent to the process alone, and systemd signals each process by its PID). Any copy that
 * finds no handler takes the default action and kills the service, exit 143: before its
 * handlers were installed, or after a stop that ended with its event loop draining, when
 * Node closes every handle, signal watchers included, before the process is gone.
 */
export function holdStopSignals(init: StopSignalsInit = {}): AbortSignal {
  const stop = new AbortController()
  process.on('SIGTERM', () => stop.abort())
  // never `once`: signal-exit (proper-lockfile's, under tus-js-client) re-raises a signal
  // that finds only its own listener left, which killed rtc after its first Ctrl-C
  let sigints = 0
  process.on('SIGINT', () => {
    if (++sigints > 1 && init.secondSigintExits === true) process.exit(130)
    stop.abort()
  })
  tellHeld()
  return stop.signal
}

/**
 * The environment variable naming the file descriptor on which `dandelion` asks its origin or
 * rtc process to say that it holds its stop signals (the node daemon says it over its IPC
 * channel: {@link SIGNALS_HELD_MESSAGE}): until then, one kills it as Node starts
 * it, before any of its code runs, and `dandelion` reports that as a clean stop, not 143.
 */
export const SIGNALS_HELD_FD_ENV = 'DANDELION_SIGNALS_HELD_FD'

/** The IPC message by which the node daemon says the same (its fd 3 is `dandelion node`'s IPC channel). */
export const SIGNALS_HELD_MESSAGE = 'signals-held'

/**
 * Says on {@link SIGNALS_HELD_FD_ENV}'s descriptor, if one was given, or over the IPC channel
 * to `dandelion node`, if there is one, that the stop signals are held.
 */
function tellHeld(): void {
  // a callback: a channel already closed is no error here (the command is gone)
  if (process.connected) process.send?.({ t: SIGNALS_HELD_MESSAGE }, undefined, {}, () => {})
  const fd = Number(process.env[SIGNALS_HELD_FD_ENV])
  // not for the processes this one starts
  delete process.env[SIGNALS_HELD_FD_ENV]
  if (!Number.isSafeInteger(fd) || fd < 3) return
  try {
    writeSync(fd, '\n')
    closeSync(fd)
  } catch {
    // no `dandelion` to tell (the entry run by hand with the variable set)
  }
}

/**
 * An error's message followed by its causes' where they add something: a library's
 * wrapper alone can say too little (the chunk store's index: "Database failed to open",
 * its cause "EEXIST: file already exists, mkdir '…/store/index'").
 */
export function errorText(err: Error): string {
  let text = err.message
  let cause = err.cause
  for (let depth = 0; cause instanceof Error && depth < 8; depth++, cause = cause.cause)
    if (cause.message !== '' && !text.includes(cause.message)) text += `: ${cause.message}`
  return text
}

/**
 * Node flags each service process runs with. A 1 MiB young-generation semi-space keeps
 * the origin's RSS under 200 MB while it streams a large upload (measured: ~225 MB peak
 * with the default, 180–190 MB with this) and even costs less CPU per uploaded GiB
 * (5.6–5.7 s vs 7.3–7.6 s, measured back to back): its bytes live in Buffers outside the
 * JS heap, and a small nursery stays in cache.
 */
export const SERVICE_NODE_FLAGS: Record<string, readonly string[]> = {
  // A seeding node's chunk reads and encrypted copies are buffers outside the JS heap,
  // freed only by a GC. Daemon serving 64 MiB to 10 peers (bench transfer): 205–220 MB
  // peak with the defaults, 165–190 MB with the small semi-space; with 3 upload slots and
  // SERVICE_ENV.node 121–175 MB (median ~143), and --optimize-for-size (V8 collects sooner,
  // keeps code smaller) 117–141 MB (median 122) at the same throughput, for roughly 0–25 %
  // more seeder CPU in paired runs.
  // --external-memory-accounted-in-global-limit: counted apart from the heap, buffers
  // outside it (chunks, encrypted copies) set off a full GC about every 50 ms of a
  // transfer (--trace-gc: 12–25 per 256 MiB, 1–6 with the flag); its concurrent marking
  // took ~0.4 of a core per process and stalled the event loop on GC joins and malloc's
  // lock (perf sched). With it, a
  // 256 MiB pull under these flags went from 136–166 to 227–286 MiB/s (alternating runs,
  // one process), the seeding daemon's peak stayed at 133–145 MB, and the origin's
  // upload was unchanged (363–385 MiB/s, 168–171 MB).
  node: ['--max-semi-space-size=1', '--optimize-for-size', '--external-memory-accounted-in-global-limit'],
  origin: ['--max-semi-space-size=1', '--external-memory-accounted-in-global-limit'],
  // the tracker's live state is ~40–60 MB; default semi-spaces took it to 290–319 MB with
  // 5,000 nodes, this flag to 211–251 MB (bench control)
  tracker: ['--max-semi-space-size=1'],
  rtc: [],
}

/**
 * Node's on-disk compile cache for the service processes: it keeps the TypeScript sources
 * with their types stripped, so a service started after the first one on this machine
 * never loads Node's type stripper (amaro, a WebAssembly build of swc). An idle node
 * daemon then holds 97–104 MB instead of 108–117 MB. Node keys entries by file content
 * and its own version, writes new ones as modules load, and skips the cache without a
 * word where the directory cannot be written. `NODE_COMPILE_CACHE` from the caller's
 * environment wins; `NODE_DISABLE_COMPILE_CACHE=1` turns it off.
 */
const COMPILE_CACHE_ENV: Readonly<Record<string, string>> = {
  NODE_COMPILE_CACHE:
    process.env.NODE_COMPILE_CACHE ??
    fileURLToPath(new URL('../node_modules/.cache/dandelion-compile', import.meta.url)),
}

/**
 * Environment each service process runs with. Two glibc malloc arenas instead of one per
 * thread (main, libuv pool, hash workers) keep freed request buffers from pinning memory:
 * the origin's peak RSS during a 1 GiB upload fell from 199–204 MB to 180 MB (bench ingest).
 */
export const SERVICE_ENV: Record<string, Readonly<Record<string, string>>> = {
  // Every service also gets COMPILE_CACHE_ENV (above).
  // A seeding node frees a chunk read (1 MiB, up to 4 MiB) and its encrypted copies (64 KiB
  // each) per chunk sent. A fixed mmap threshold stops glibc from raising it after the first
  // free, and one arena keeps freed memory in one place to be reused. The threshold is above
  // the largest chunk, so those buffers come from the heap and are reused: at 64 KiB every
  // one of them was a fresh mapping, each page faulted in again (about 4 ms per MiB on a VM).
  // Seeding 64 MiB to 10 peers (bench/.tmp runs, 4 alternating): the daemon's CPU per GiB sent
  // fell from 16-25 s to 10-16 s; peak RSS went from 120-134 MB to 128-141 MB.
  node: { ...COMPILE_CACHE_ENV, MALLOC_ARENA_MAX: '1', MALLOC_MMAP_THRESHOLD_: String(8 * 1024 * 1024) },
  // glibc.malloc.hugetlb=1: glibc asks for transparent huge pages (madvise) for what it
  // maps, so the ingest's 4 MiB run buffers sit on 2 MiB pages. Each direct write then
  // pins two pages instead of a thousand, and the hash workers' reads into them miss
  // the TLB less: libuv's CPU during the ingest stage fell from 0.06–0.10 to 0.03–0.05
  // of a core, and the stage ran 0–12% faster in alternating runs (median about 6%). The
  // origin's upload RSS stayed at 170–174 MB. No effect where THP is off ("never").
  origin: { ...COMPILE_CACHE_ENV, MALLOC_ARENA_MAX: '2', GLIBC_TUNABLES: 'glibc.malloc.hugetlb=1' },
  tracker: { ...COMPILE_CACHE_ENV },
  rtc: { ...COMPILE_CACHE_ENV },
}
