/**
 * Worker thread body of the hash pool: BLAKE3-256 of each chunk it is sent, read in place
 * from shared memory; only the digest is sent back.
 *
 * Plain JavaScript on purpose: a `.ts` worker would load Node's type stripper into every
 * worker isolate, about 17 MB of RSS each (measured).
 */
import { parentPort } from 'node:worker_threads'
import { createHash } from 'blake3-wasm'

parentPort?.on('message', (/** @type {{ id: number, bytes: Uint8Array }} */ req) => {
  const digest = createHash().update(req.bytes).digest()
  parentPort?.postMessage({ id: req.id, digest })
})
