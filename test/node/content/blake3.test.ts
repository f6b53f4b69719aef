import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { blake3, blake3Implementation, blake3Wasm, createBlake3Hasher } from '../../../node/content/index.ts'

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')
const run = promisify(execFile)
const moduleUrl = new URL('../../../node/content/blake3.ts', import.meta.url).href

/** Which implementation a fresh process picks with `DANDELION_BLAKE3=value`. */
async function implementationWith(value: string): Promise<string> {
  const { stdout } = await run(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `const m = await import(${JSON.stringify(moduleUrl)}); process.stdout.write(m.blake3Implementation)`,
    ],
    { env: { ...process.env, DANDELION_BLAKE3: value }, timeout: 20_000 },
  )
  return stdout
}

describe('BLAKE3 implementations', () => {
  it('loads the native BLAKE3 where npm ci built it (Linux x64/arm64 with a C compiler, as here)', () => {
    if (process.platform === 'linux' && (process.arch === 'x64' || process.arch === 'arm64'))
      expect(blake3Implementation).toBe('native')
    else expect(['native', 'wasm']).toContain(blake3Implementation)
  })

  it('gives the same digests as blake3-wasm at every size around chunk and tree boundaries', () => {
    const sizes = [0, 1, 63, 64, 65, 1023, 1024, 1025, 2048, 3073, 65_536, 65_537, 1 << 20, (1 << 20) + 1]
    for (const size of sizes) {
      const bytes = randomBytes(size)
      expect(hex(blake3(bytes)), `size ${size}`).toBe(hex(blake3Wasm(bytes)))
    }
  })

  it('hashes incrementally to the one-shot digest, whatever the pieces', () => {
    const bytes = randomBytes((1 << 20) + 5)
    for (const piece of [1, 1000, 1024, 65_519, 65_536, bytes.byteLength]) {
      const hasher = createBlake3Hasher()
      for (let at = 0; at < bytes.byteLength; at += piece) hasher.update(bytes.subarray(at, at + piece))
      expect(hex(hasher.digest()), `pieces of ${piece}`).toBe(hex(blake3Wasm(bytes)))
    }
    expect(hex(createBlake3Hasher().digest())).toBe(hex(blake3Wasm(new Uint8Array(0))))
  })

  it('hashes views into shared memory at any offset (the decoder may hand those)', () => {
    const shared = new Uint8Array(new SharedArrayBuffer(3 << 20))
    shared.set(randomBytes(shared.byteLength))
    for (const [start, end] of [
      [0, 1 << 20],
      [7, (1 << 20) + 7],
      [4096, 4096 + 12_345],
    ]) {
      const view = shared.subarray(start, end)
      expect(hex(blake3(view))).toBe(hex(blake3Wasm(view.slice())))
    }
  })

  it('DANDELION_BLAKE3 picks the implementation, and a bad value is a clear error', async () => {
    expect(await implementationWith('wasm')).toBe('wasm')
    expect(await implementationWith('')).toBe(blake3Implementation)
    const err = (await implementationWith('sha256').catch((e: unknown) => e)) as {
      stderr: string
      code: number
    }
    expect(err.code).not.toBe(0)
    expect(err.stderr).toMatch(/DANDELION_BLAKE3 must be "native" or "wasm", not "sha256"/)
  }, 30_000)
})
