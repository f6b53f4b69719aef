/**
 * A service manager stops a unit by sending SIGTERM to every process of it (systemd's
 * default `KillMode=control-group`, `kill -- -PGID`): the service gets it from the manager
 * and again from `dandelion`, which passes its own on. The tracker and the rtc server used
 * to take the first and be killed by the second midway through closing (exit 143, which
 * marks the unit failed, its state closed by nobody).
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'

const CLI = fileURLToPath(new URL('../../node/cli.ts', import.meta.url))
const children: ChildProcess[] = []
const dirs: string[] = []
afterEach(async () => {
  for (const c of children.splice(0))
    if (c.exitCode === null && c.signalCode === null) process.kill(-c.pid!, 'SIGKILL')
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true })
})

/** `dandelion <args>` in its own process group; resolves once it printed a line matching `ready`. */
async function service(args: string[], ready: RegExp): Promise<ChildProcess> {
  const child = spawn(process.execPath, [CLI, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
    detached: true,
  })
  children.push(child)
  await new Promise<void>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (l) => {
      if (ready.test(l)) resolve()
    })
    child.once('exit', (code) => reject(new Error(`exited ${code} before it was ready`)))
  })
  return child
}

/** SIGTERM to the whole group, as a service manager sends it; resolves with the command's exit status. */
async function stopGroup(child: ChildProcess): Promise<number | null> {
  const exited = once(child, 'exit')
  process.kill(-child.pid!, 'SIGTERM')
  const [code] = await exited
  return code as number | null
}

describe('a SIGTERM to the whole process group', () => {
  it('stops the tracker once, gracefully', { timeout: 30_000 }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dandelion-group-'))
    dirs.push(dir)
    const child = await service(
      [
        'tracker',
        '--data-dir',
        dir,
        '--port',
        '0',
        '--admin-token',
        'a'.repeat(24),
        '--enrollment-token',
        'e'.repeat(24),
      ],
      /"channelUrl"/,
    )
    expect(await stopGroup(child)).toBe(0)
  })

  it('stops the rtc server once, gracefully', { timeout: 30_000 }, async () => {
    const child = await service(['rtc', '--secret', 's'.repeat(32), '--port', '0'], /rtc listening/)
    expect(await stopGroup(child)).toBe(0)
  })
})
