/**
 * `dandelion tracker --help` as an operator reads it: what it says about Node's flags is
 * what `dandelion tracker` does, and its default data directory is kept out of git (as the
 * origin's and the rtc server's `./.data/…` are).
 */
import { readFile } from 'node:fs/promises'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { SERVICE_NODE_FLAGS } from '../../node/cli-main.ts'
import { runTrackerCommand } from '../../tracker/cli.ts'

afterEach(() => {
  vi.restoreAllMocks()
})

async function trackerHelp(): Promise<string> {
  let out = ''
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += chunk.toString()
    return true
  })
  expect(await runTrackerCommand(['-h'])).toBeUndefined()
  vi.restoreAllMocks()
  return out
}

/** Whether a `.gitignore` line ignores the directory `dir` (relative to the repository root). */
function ignores(line: string, dir: string): boolean {
  const pattern = line.trim()
  if (pattern === '' || pattern.startsWith('#') || pattern.startsWith('!') || /[*?[]/.test(pattern))
    return false
  const p = pattern.replace(/^\//, '').replace(/\/$/, '')
  return dir === p || dir.startsWith(`${p}/`)
}

describe('dandelion tracker --help', () => {
  it('says that `dandelion tracker` passes --max-semi-space-size=1, not to add it', async () => {
    expect(SERVICE_NODE_FLAGS.tracker).toContain('--max-semi-space-size=1')
    const help = await trackerHelp()
    expect(help).not.toMatch(/Run it with --max-semi-space-size/)
    expect(help).toMatch(/dandelion tracker.*runs .*--max-semi-space-size=1/s)
  })

  it('has a default data directory that git ignores', async () => {
    const help = await trackerHelp()
    const dir = /--data-dir <dir>.*\[(.+?)\]/.exec(help)?.[1]
    expect(dir).toBe('./data/tracker')
    const gitignore = await readFile(new URL('../../.gitignore', import.meta.url), 'utf8')
    const rel = (dir as string).replace(/^\.\//, '')
    expect(gitignore.split('\n').some((line) => ignores(line, rel))).toBe(true)
  })
})
