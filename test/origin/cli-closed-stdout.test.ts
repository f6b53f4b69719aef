/**
 * `dandelion origin` whose stdout reader goes away (`dandelion origin | head -1`, a
 * supervisor that closes the pipe): it still stops cleanly on SIGTERM.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import { afterEach, describe, expect, it } from 'vitest'
import { CLI, killGroups } from '../node/utils/cli.ts'
import { Fixture } from './utils.ts'

const fx = new Fixture()
const children: ChildProcess[] = []
afterEach(async () => {
  killGroups(children)
  await fx.cleanup()
})

describe('dandelion origin with its stdout closed', () => {
  it('stops on SIGTERM with status 0 and no uncaught EPIPE once the reader of its stdout is gone', async () => {
    const data = await fx.dir()
    // its own process group, as a shell job: SIGTERM reaches the command and the origin it runs
    const origin = spawn(
      process.execPath,
      [CLI, 'origin', '--port', '0', '--data', data, '--no-seed', '--min-free-disk-bytes', '0'],
      { stdio: ['ignore', 'pipe', 'pipe'], detached: true },
    )
    children.push(origin)
    let stderr = ''
    origin.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString()
    })
    const exited = once(origin, 'exit')
    // `| head -1`: the first line read, then the reader is gone
    const lines = createInterface({ input: origin.stdout! })
    for await (const line of lines) {
      expect(line).toMatch(/^Dandelion origin listening on http/)
      break
    }
    lines.close()
    origin.stdout!.destroy()
    process.kill(-origin.pid!, 'SIGTERM')
    const [code, signal] = (await exited) as [number | null, NodeJS.Signals | null]
    expect(stderr).not.toMatch(/EPIPE|Unhandled|uncaught|Error/i)
    expect({ code, signal }).toEqual({ code: 0, signal: null })
  })
})
