/**
 * `dandelion origin` after the first start: a signing key that went missing from a data
 * directory that had published (a rotation, or a restore without the key file), and
 * settings an operator misspelt.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { afterEach, describe, expect, it } from 'vitest'
import { loadOriginConfig } from '../../origin/config.ts'
import { CLI, killGroups } from '../node/utils/cli.ts'
import { until } from '../node/utils/harness.ts'
import { Fixture } from './utils.ts'

const fx = new Fixture()
const children: ChildProcess[] = []
afterEach(async () => {
  killGroups(children)
  await fx.cleanup()
})

/** Starts `dandelion origin` on `data` (its own process group); its banner and stderr so far. */
async function origin(
  data: string,
  env: NodeJS.ProcessEnv = {},
): Promise<{ banner: string; stderr: () => string }> {
  const child = spawn(
    process.execPath,
    [CLI, 'origin', '--port', '0', '--data', data, '--min-free-disk-bytes', '0', '--no-seed'],
    { stdio: ['ignore', 'pipe', 'pipe'], detached: true, env: { ...process.env, ...env } },
  )
  children.push(child)
  let stderr = ''
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString()
  })
  const lines: string[] = []
  for await (const line of createInterface({ input: child.stdout! })) {
    lines.push(line)
    if (line.startsWith('  upload grants')) break
  }
  return { banner: lines.join('\n'), stderr: () => stderr }
}

/** Stops the origins started so far, and waits for them to exit. */
async function stopAll(): Promise<void> {
  for (const c of children.splice(0)) {
    if (c.exitCode !== null) continue
    const exited = once(c, 'exit')
    c.kill('SIGTERM')
    await exited
  }
}

describe('dandelion origin: day-two operations', () => {
  it('says when it creates its signing key, and warns when a used data directory lost it', {
    timeout: 30_000,
  }, async () => {
    const data = await fx.dir()
    const first = await origin(data)
    expect(first.banner).toMatch(/created now in .*origin\.key/)
    await stopAll()
    // started again on its own key: nothing to say
    const again = await origin(data)
    expect(again.banner).not.toMatch(/created now/)
    await stopAll()
    // the key moved away (a rotation, or a restore that left it out): a new key signs from now on
    await rename(join(data, 'origin.key'), join(await fx.dir(), 'old-origin.key'))
    const rotated = await origin(data)
    expect(rotated.banner).toMatch(/created now in .*origin\.key/)
    await until(() => rotated.stderr().includes('WARNING'))
    expect(rotated.stderr()).toMatch(/origin\.key was missing.*--trusted-origin.*restore/s)
  })

  it('names the setting a misspelt file key or variable meant, and the allowed chunk sizes', async () => {
    const file = join(await fx.dir(), 'origin.json')
    await writeFile(file, JSON.stringify({ seeed: false }))
    await expect(loadOriginConfig({}, {}, file)).rejects.toThrow(
      new RegExp(`unknown setting "seeed" \\(did you mean "seed"\\?\\) in ${file}`),
    )
    await expect(loadOriginConfig({ chunkSize: '3000' }, {})).rejects.toThrow(/262144, 524288, 1048576/)
    const data = await fx.dir()
    const misspelt = await origin(data, { DANDELION_ORIGIN_PROT: '1' })
    await until(() => misspelt.stderr().includes('DANDELION_ORIGIN_PROT'))
    expect(misspelt.stderr()).toMatch(/DANDELION_ORIGIN_PROT .*did you mean DANDELION_ORIGIN_PORT/)
  })
})
