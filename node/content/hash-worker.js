/**
 * Worker thread body of the hash pool: BLAKE3-256 of each chunk it is sent, read in place
 * from shared memory; only the digest is sent back. A request that names a file
 * descriptor first reads the chunk from that file into the shared buffer, so a file
 * being ingested never passes through the main thread.
 *
 * Reads are synchronous: the worker has nothing else to do meanwhile, and the pool keeps
 * a second request queued per worker. Asynchronous reads overlapping the hash measured
 * no faster; `O_DIRECT` reads measured much slower (the CPU then hashes bytes that are
 * in no cache).
 *
 * Plain JavaScript on purpose: a `.ts` worker would load Node's type stripper into every
 * worker isolate, about 17 MB of RSS each (measured).
 */
import { readSync } from 'node:fs'
import { parentPort } from 'node:worker_threads'
import { createHash } from 'blake3-wasm'

/**
 * @typedef {{ id: number, bytes: Uint8Array, fd?: number, position?: number }} HashRequest
 */

parentPort?.on('message', (/** @type {HashRequest} */ req) => {
  let bytes = req.bytes
  if (req.fd !== undefined) {
    try {
      bytes = bytes.subarray(0, readFully(req.fd, bytes, req.position ?? 0))
    } catch (err) {
      const { message, code } = /** @type {NodeJS.ErrnoException} */ (err)
      parentPort?.postMessage({ id: req.id, error: { message, code } })
      return
    }
  }
  const digest = createHash().update(bytes).digest()
  parentPort?.postMessage({ id: req.id, digest, bytesRead: bytes.byteLength })
})

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
