/**
 * Worker thread body of the hash pool: BLAKE3-256 of each chunk it is sent, read in place
 * from shared memory; only the digests are sent back. It hashes with the implementation
 * the pool names in `workerData.blake3` (the process's own choice by default, see
 * `blake3.ts`): the native BLAKE3 hashes a 1 MiB chunk about seven times faster than
 * blake3-wasm on this machine, and loads without the wasm module's memory.
 *
 * A request that names a file descriptor first reads its bytes from that file into the
 * shared buffer, so a file being ingested never passes through the main thread. It may
 * cover several consecutive chunks (`chunkSize` apart), each hashed on its own, and may
 * name a write target (a chunk store's segment) where the worker then writes all of
 * them with one positional write: the event loop is woken once per request, not once
 * per chunk and per write.
 *
 * Reads are synchronous: the worker has nothing else to do meanwhile, and the pool keeps
 * a second request queued per worker. Asynchronous reads overlapping the hash measured
 * no faster; `O_DIRECT` reads measured much slower (the CPU then hashes bytes that are
 * in no cache). Writes are asynchronous: a direct write waits on the disk, and ext4
 * runs appending direct writes to one file one at a time; a worker waiting for its turn
 * hashed nothing (about 25% slower, measured).
 *
 * Plain JavaScript on purpose: a `.ts` worker would load Node's type stripper into every
 * worker isolate, about 17 MB of RSS each (measured).
 */
import { readSync, write } from 'node:fs'
import { createRequire } from 'node:module'
import { parentPort, workerData } from 'node:worker_threads'

const DIGEST_BYTES = 32
const require = createRequire(import.meta.url)

const implementation = workerData?.blake3 === 'native' ? 'native' : 'wasm'
/** BLAKE3-256 of one chunk. @type {(bytes: Uint8Array) => Uint8Array} */
const blake3 = implementation === 'native' ? loadNative() : loadWasm()
parentPort?.postMessage({ loaded: implementation })

function loadNative() {
  // the binding itself, as blake3.ts loads it (the package's hash() wraps each digest in a stream)
  const { createHash } = require('@c4312/blake3-native/build/Release/blake3.node')
  return (/** @type {Uint8Array} */ bytes) => {
    const hasher = createHash()
    hasher.update(bytes)
    return hasher.digest(DIGEST_BYTES)
  }
}

function loadWasm() {
  const { createHash } = require('blake3-wasm')
  return (/** @type {Uint8Array} */ bytes) => createHash().update(bytes).digest()
}

/**
 * @typedef {{
 *   id: number,
 *   bytes: Uint8Array,
 *   chunkSize?: number,
 *   fd?: number,
 *   position?: number,
 *   writeFd?: number,
 *   writePosition?: number,
 * }} HashRequest
 */

parentPort?.on('message', (/** @type {HashRequest} */ req) => {
  let bytes = req.bytes
  try {
    if (req.fd !== undefined) bytes = bytes.subarray(0, readFully(req.fd, bytes, req.position ?? 0))
    const reply = {
      id: req.id,
      digests: hashChunks(bytes, req.chunkSize ?? Math.max(1, bytes.byteLength)),
      bytesRead: bytes.byteLength,
    }
    if (req.writeFd === undefined) parentPort?.postMessage(reply)
    else {
      writeFully(req.writeFd, bytes, req.writePosition ?? 0, 0, (err) =>
        parentPort?.postMessage(err === null ? reply : failure(req.id, err)),
      )
    }
  } catch (err) {
    parentPort?.postMessage(failure(req.id, err))
  }
})

/** The digests of `bytes` cut into `chunkSize` pieces, one after the other in one array. */
function hashChunks(/** @type {Uint8Array} */ bytes, /** @type {number} */ chunkSize) {
  const count = Math.max(1, Math.ceil(bytes.byteLength / chunkSize))
  const digests = new Uint8Array(count * DIGEST_BYTES)
  for (let i = 0; i < count; i++) {
    const chunk = bytes.subarray(i * chunkSize, (i + 1) * chunkSize)
    digests.set(blake3(chunk), i * DIGEST_BYTES)
  }
  return digests
}

function failure(/** @type {number} */ id, /** @type {unknown} */ err) {
  const { message, code } = /** @type {NodeJS.ErrnoException} */ (err)
  return { id, error: { message, code } }
}

/** Reads until `into` is full or the file ends; returns the bytes read. */
function readFully(/** @type {number} */ fd, /** @type {Uint8Array} */ into, /** @type {number} */ position) {
  let got = 0
  while (got < into.byteLength) {
    const n = readSync(fd, into, got, into.byteLength - got, position + got)
    if (n === 0) break
    got += n
  }
  return got
}

/** Writes `bytes` from `done` on at `position`, then calls back. */
function writeFully(
  /** @type {number} */ fd,
  /** @type {Uint8Array} */ bytes,
  /** @type {number} */ position,
  /** @type {number} */ done,
  /** @type {(err: Error | null) => void} */ cb,
) {
  if (done === bytes.byteLength) return cb(null)
  write(fd, bytes, done, bytes.byteLength - done, position + done, (err, n) => {
    if (err) cb(err)
    else writeFully(fd, bytes, position, done + n, cb)
  })
}
