/**
 * A service manager may answer a service's ready line with a SIGTERM at once (a unit
 * stopped just after it started). The tracker, the rtc server and the origin used to
 * install their signal handlers only after printing that line: a SIGTERM in between found
 * none and killed the service (a quarter of the tracker's runs here). Each service is
 * started as its process entry (`<service>/main.ts`, what `dandelion <service>` runs) and
 * stopped that way a few times.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const children: ChildProcess[] = []
const dirs: string[] = []
afterEach(async () => {
  for (const c of children.splice(0))
    if (c.exitCode === null && c.signalCode === null) process.kill(-c.pid!, 'SIGKILL')
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true })
})

/** `<service>/main.ts <service> <args>` in its own process group; resolves once it printed a line matching `ready`. */
async function service(args: string[], ready: RegExp): Promise<ChildProcess> {
  const child = spawn(process.execPath, [join(ROOT, args[0], 'main.ts'), ...args], {
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

/** One SIGTERM, at once; resolves with the exit status (null if a signal ended it). */
async function stop(child: ChildProcess): Promise<number | null> {
  const exited = once(child, 'exit')
  child.kill('SIGTERM')
  const [code] = await exited
  return code as number | null
}

describe('a SIGTERM right after the ready line', () => {
  const ROUNDS = 4
  const tempDir = async (): Promise<string> => {
    const dir = await mkdtemp(join(tmpdir(), 'dandelion-group-'))
    dirs.push(dir)
    return dir
  }

  it('stops the tracker gracefully', { timeout: 60_000 }, async () => {
    for (let i = 0; i < ROUNDS; i++) {
      const token = ['--admin-token', 'a'.repeat(24), '--enrollment-token', 'e'.repeat(24)]
      const child = await service(
        ['tracker', '--data-dir', await tempDir(), '--port', '0', ...token],
        /"channelUrl"/,
      )
      expect(await stop(child)).toBe(0)
    }
  })

  it('stops the rtc server gracefully', {
    timeout: 60_000,
  }, async () => {
    for (let i = 0; i < ROUNDS; i++) {
      const child = await service(['rtc', '--secret', 's'.repeat(32), '--port', '0'], /rtc listening/)
      expect(await stop(child)).toBe(0)
    }
  })

  it('stops the origin gracefully', { timeout: 60_000 }, async () => {
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
      expect(await stop(child)).toBe(0)
    }
  })
})
