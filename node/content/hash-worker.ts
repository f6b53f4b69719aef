/**
 * Worker thread body of the hash pool: BLAKE3-256 of each chunk it is sent. A chunk in
 * shared memory is hashed in place and only the digest is sent back; any other chunk's
 * buffer is transferred in and back out. Either way no bytes are copied across threads.
 */
import { parentPort } from 'node:worker_threads'
import { createHash } from 'blake3-wasm'

interface HashRequest {
  id: number
  bytes: Uint8Array
}

parentPort?.on('message', (req: HashRequest) => {
  const digest = createHash().update(req.bytes).digest() as Uint8Array
  if (req.bytes.buffer instanceof SharedArrayBuffer) parentPort?.postMessage({ id: req.id, digest })
  else parentPort?.postMessage({ id: req.id, bytes: req.bytes, digest }, [req.bytes.buffer as ArrayBuffer])
})
