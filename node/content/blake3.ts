/**
 * One-shot BLAKE3-256 on the calling thread.
 *
 * Two implementations, same digests: `@c4312/blake3-native` (the BLAKE3 team's C code with
 * its SSE4.1/AVX2/AVX-512/NEON kernels, compiled from source by node-gyp when npm installs
 * it: an optional dependency, so a machine without a C toolchain still installs) and
 * `blake3-wasm` (portable, one lane). On this machine (AVX2) the native one hashes a 1 MiB
 * chunk in about 0.28 ms (3.5 GiB/s), seven times faster than wasm (1.9 ms): fast enough
 * that a node verifies every chunk it receives on the event loop, without a hash worker
 * and the thread wake-ups that go with it.
 *
 * `DANDELION_BLAKE3` picks one: `native` (fail if it does not load), `wasm`, or unset for
 * native when its binary loads on this platform, else wasm.
 */
import { createRequire } from 'node:module'
import { InvalidConfigError } from '../errors.ts'

/** Which implementation {@link blake3} uses in this process. */
export type Blake3Implementation = 'native' | 'wasm'

type Blake3Fn = (input: Uint8Array) => Uint8Array

/** An incremental BLAKE3-256: the digest of everything updated so far, in order. */
export interface Blake3Hasher {
  update(bytes: Uint8Array): void
  digest(): Uint8Array
}

interface Implementation {
  impl: Blake3Implementation
  fn: Blake3Fn
  hasher: () => Blake3Hasher
}

const require = createRequire(import.meta.url)

// blake3-wasm is loaded on first use only: its module and memory cost a process that
// hashes natively ~6–10 MB of RSS for nothing (measured on the seeding daemon, whose
// peak RSS has a budget).
let createWasmHash: typeof import('blake3-wasm').createHash | undefined
const wasmHasher = (): Blake3Hasher => {
  createWasmHash ??= (require('blake3-wasm') as typeof import('blake3-wasm')).createHash
  const hash = createWasmHash()
  return {
    update: (bytes) => void hash.update(bytes),
    digest: () => hash.digest() as Uint8Array,
  }
}
const wasmBlake3: Blake3Fn = (bytes) => {
  const hasher = wasmHasher()
  hasher.update(bytes)
  return hasher.digest()
}

/** The N-API class the package's binding exports (`src/native.cc`). */
interface NativeBinding {
  createHash(): { update(bytes: Uint8Array): unknown; digest(length: number): Uint8Array }
}

function loadNative(): Implementation | Error {
  try {
    // The binding itself, not the package's `hash()`: that wraps every digest in a new
    // stream.Transform, garbage on the path that verifies each received chunk.
    const binding = require('@c4312/blake3-native/build/Release/blake3.node') as Partial<NativeBinding>
    if (typeof binding.createHash !== 'function') return new Error('@c4312/blake3-native has no createHash()')
    const { createHash } = binding as NativeBinding
    return {
      impl: 'native',
      fn: (bytes) => {
        const hasher = createHash()
        hasher.update(bytes)
        return hasher.digest(32)
      },
      hasher: () => {
        const hash = createHash()
        return { update: (bytes) => void hash.update(bytes), digest: () => hash.digest(32) }
      },
    }
  } catch (err) {
    return err as Error
  }
}

const wasm: Implementation = { impl: 'wasm', fn: wasmBlake3, hasher: wasmHasher }

function choose(wanted: string | undefined): Implementation {
  if (wanted === 'wasm') return wasm
  if (wanted !== undefined && wanted !== '' && wanted !== 'native')
    throw new InvalidConfigError(`DANDELION_BLAKE3 must be "native" or "wasm", not ${JSON.stringify(wanted)}`)
  const native = loadNative()
  if (!(native instanceof Error)) return native
  if (wanted === 'native')
    throw new InvalidConfigError(
      `DANDELION_BLAKE3=native, but the native BLAKE3 does not load: ${native.message}`,
    )
  return wasm
}

const chosen = choose(process.env.DANDELION_BLAKE3)

/** The implementation this process hashes with. */
export const blake3Implementation: Blake3Implementation = chosen.impl

/** BLAKE3-256 of `bytes` on the calling thread. */
export const blake3: (bytes: Uint8Array) => Uint8Array = chosen.fn

/** A new incremental BLAKE3-256 with the same implementation as {@link blake3}. */
export const createBlake3Hasher: () => Blake3Hasher = chosen.hasher

/** BLAKE3-256 with `blake3-wasm`, whatever {@link blake3Implementation} is (for comparisons). */
export const blake3Wasm: (bytes: Uint8Array) => Uint8Array = wasmBlake3
