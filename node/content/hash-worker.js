/**
 * Worker thread body of the hash pool: BLAKE3-256 of each chunk it is sent. A chunk in
 * shared memory is hashed in place and only the digest is sent back; any other chunk's
 * buffer is transferred in and back out. Either way no bytes are copied across threads.
 *
 * Plain JavaScript on purpose: a `.ts` worker would load Node's type stripper into every
 * worker isolate, about 17 MB of RSS each (measured).
 */
import { parentPort } from 'node:worker_threads'
import { createHash } from 'blake3-wasm'

parentPort?.on('message', (/** @type {{ id: number, bytes: Uint8Array }} */ req) => {
  const digest = createHash().update(req.bytes).digest()
  if (req.bytes.buffer instanceof SharedArrayBuffer) parentPort?.postMessage({ id: req.id, digest })
  else parentPort?.postMessage({ id: req.id, bytes: req.bytes, digest }, [req.bytes.buffer])
})
