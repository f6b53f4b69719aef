/**
 * Helpers for tests that run `dandelion` as its own process: where the command is, the
 * flags that keep a daemon on loopback, and how to collect or stop what was spawned.
 */
import type { ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { createServer } from 'node:net'
import { fileURLToPath } from 'node:url'

/** The `dandelion` command, to run with `process.execPath`. */
export const CLI = fileURLToPath(new URL('../../../node/cli.ts', import.meta.url))

/** A well-formed origin key to trust (no origin here holds it). */
export const TRUSTED_ORIGIN = 'CAESIDR5jvBh1tbkqxn6zAqRk6mP3nWRWe+h4Lsf3kdQV0eo'

/** Daemon flags for tests: loopback only, any free ports, no DHT. */
export const LOCAL_FLAGS: readonly string[] = [
  '--listen',
  '/ip4/127.0.0.1/tcp/0',
  '--playback-port',
  '0',
  '--no-dht',
]

/**
 * SIGKILLs the process group of each child (spawned `detached`), so that a daemon a command
 * started goes with it, and empties the list. A group already gone is skipped.
 */
export function killGroups(children: ChildProcess[]): void {
  for (const c of children.splice(0)) {
    try {
      process.kill(-c.pid!, 'SIGKILL')
    } catch {}
  }
}

/**
 * Collects `child`'s stderr and resolves with its exit status. With `killAfterMs`, a child
 * still running by then (one that started instead of refusing) has its group killed, so the
 * test fails by itself instead of timing out.
 */
export async function exitAndStderr(
  child: ChildProcess,
  killAfterMs?: number,
): Promise<{ code: number | null; stderr: string }> {
  let stderr = ''
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString()
  })
  const started =
    killAfterMs === undefined
      ? undefined
      : setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), killAfterMs)
  const [code] = (await once(child, 'exit')) as [number | null]
  clearTimeout(started)
  return { code, stderr }
}

/** A loopback port nothing listens on (it was free a moment ago). */
export async function closedPort(): Promise<number> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as { port: number }
  server.close()
  await once(server, 'close')
  return port
}
