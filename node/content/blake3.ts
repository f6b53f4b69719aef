/**
 * One-shot BLAKE3-256 on the calling thread.
 *
 * Two implementations, same digests: `@napi-rs/blake-hash` (the Rust `blake3` crate with
 * SIMD, shipped as a prebuilt binary per platform through npm) and `blake3-wasm`
 * (portable, one lane). On this machine the native one hashes a 1 MiB chunk in about
 * 0.12 ms (8.6 GB/s), eleven times faster than wasm (1.3 ms): fast enough that a node
 * verifies every chunk it receives on the event loop, without a hash worker and the
 * thread wake-ups that go with it.
 *
 * `DANDELION_BLAKE3` picks one: `native` (fail if it does not load), `wasm`, or unset for
 * native when its binary loads on this platform, else wasm.
 */
import { createRequire } from 'node:module'
import { InvalidConfigError } from '../errors.ts'

/** Which implementation {@link blake3} uses in this process. */
export type Blake3Implementation = 'native' | 'wasm'

type Blake3Fn = (input: Uint8Array) => Uint8Array

const require = createRequire(import.meta.url)

// blake3-wasm is loaded on first use only: its module and memory cost a process that
// hashes natively ~6–10 MB of RSS for nothing (measured on the seeding daemon, whose
// peak RSS has a budget).
let createWasmHash: typeof import('blake3-wasm').createHash | undefined
const wasmBlake3: Blake3Fn = (bytes) => {
  createWasmHash ??= (require('blake3-wasm') as typeof import('blake3-wasm')).createHash
  return createWasmHash().update(bytes).digest() as Uint8Array
}

function loadNative(): Blake3Fn | Error {
  try {
    const mod = require('@napi-rs/blake-hash') as { blake3?: unknown }
    if (typeof mod.blake3 !== 'function') return new Error('@napi-rs/blake-hash has no blake3()')
    return mod.blake3 as Blake3Fn
  } catch (err) {
    return err as Error
  }
}

function choose(wanted: string | undefined): { impl: Blake3Implementation; fn: Blake3Fn } {
  if (wanted === 'wasm') return { impl: 'wasm', fn: wasmBlake3 }
  if (wanted !== undefined && wanted !== '' && wanted !== 'native')
    throw new InvalidConfigError(`DANDELION_BLAKE3 must be "native" or "wasm", not ${JSON.stringify(wanted)}`)
  const native = loadNative()
  if (!(native instanceof Error)) return { impl: 'native', fn: native }
  if (wanted === 'native')
    throw new InvalidConfigError(
      `DANDELION_BLAKE3=native, but the native BLAKE3 does not load: ${native.message}`,
    )
  return { impl: 'wasm', fn: wasmBlake3 }
}

const chosen = choose(process.env.DANDELION_BLAKE3)

/** The implementation this process hashes with. */
export const blake3Implementation: Blake3Implementation = chosen.impl

/** BLAKE3-256 of `bytes` on the calling thread. */
export const blake3: (bytes: Uint8Array) => Uint8Array = chosen.fn

/** BLAKE3-256 with `blake3-wasm`, whatever {@link blake3Implementation} is (for comparisons). */
export const blake3Wasm: (bytes: Uint8Array) => Uint8Array = wasmBlake3
