/**
 * A service manager stops a unit by sending SIGTERM to every process of it (systemd's
 * default `KillMode=control-group`, `kill -- -PGID`): the service gets it from the manager
 * and again from `dandelion`, which passes its own on. The tracker and the rtc server used
 * to take the first and be killed by the second midway through closing (exit 143, which
 * marks the unit failed, its state closed by nobody). And every service used to install its
 * handlers only after its ready line: a SIGTERM answering that line at once (a quarter of
 * the tracker's runs here) found none and killed it. Each case runs a few times.
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
  const ROUNDS = 4
  const tempDir = async (): Promise<string> => {
    const dir = await mkdtemp(join(tmpdir(), 'dandelion-group-'))
    dirs.push(dir)
    return dir
  }

  it('stops the tracker once, gracefully, even right after its ready line', { timeout: 60_000 }, async () => {
    for (let i = 0; i < ROUNDS; i++) {
      const token = ['--admin-token', 'a'.repeat(24), '--enrollment-token', 'e'.repeat(24)]
      const child = await service(
        ['tracker', '--data-dir', await tempDir(), '--port', '0', ...token],
        /"channelUrl"/,
      )
      expect(await stopGroup(child)).toBe(0)
    }
  })

  it('stops the rtc server once, gracefully, even right after its ready line', {
    timeout: 60_000,
  }, async () => {
    for (let i = 0; i < ROUNDS; i++) {
      const child = await service(['rtc', '--secret', 's'.repeat(32), '--port', '0'], /rtc listening/)
      expect(await stopGroup(child)).toBe(0)
    }
  })

  it('stops the origin once, gracefully, even right after its banner', { timeout: 60_000 }, async () => {
    for (let i = 0; i < ROUNDS; i++) {
      const args = [
        'origin',
        '--data',
        await tempDir(),
        '--port',
        '0',
        '--token',
        't'.repeat(24),
        '--no-seed',
      ]
      const child = await service(args, /Upload a lesson/)
      expect(await stopGroup(child)).toBe(0)
    }
  })
})
