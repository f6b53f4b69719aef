/**
 * The bare libp2p stream the transfer benchmark holds the swarm to, and the same stream
 * with the least work a receiver that verifies what it keeps has to add, so a result
 * shows how much of the gap to the bare stream is the protocol's and how much is
 * verification's on this machine.
 *
 * Every run starts on a settled connection (dialled, identify done both ways), and its
 * clock includes opening its stream, as a pull's includes opening its swarm stream.
 */
import type { IdentifyResult, Libp2p, PeerId } from '@libp2p/interface'
import { blake3, createBlake3Hasher } from '../../node/content/index.ts'
import { createHost } from '../../node/host/index.ts'

/**
 * What the receiving end does with the bytes:
 * - `count`: nothing (the bare stream);
 * - `copy-hash`: copies them into chunk-sized buffers it keeps and hashes each full
 *   buffer with the node's BLAKE3, as the swarm's receive path does, without the protocol;
 * - `hash-pieces`: keeps the received pieces as they are and hashes them as they arrive
 *   (incremental BLAKE3, a digest per chunk): no copy at all.
 */
export type BareReceiver = 'count' | 'copy-hash' | 'hash-pieces'

const PROTOCOL = '/dandelion-bench/bare/1.0.0'

/** Dials `listener` from `dialer` and resolves once identify has run both ways. */
export async function connectSettled(
  dialer: Libp2p,
  listener: Libp2p,
  signal: AbortSignal = AbortSignal.timeout(10_000),
): Promise<void> {
  const identified = async (host: Libp2p, peer: PeerId): Promise<void> => {
    const { promise, resolve, reject } = Promise.withResolvers<void>()
    const onIdentify = (evt: CustomEvent<IdentifyResult>): void => {
      if (evt.detail.peerId.equals(peer)) resolve()
    }
    const onAbort = (): void => reject(signal.reason)
    host.addEventListener('peer:identify', onIdentify)
    signal.addEventListener('abort', onAbort, { once: true })
    try {
      await promise
    } finally {
      host.removeEventListener('peer:identify', onIdentify)
      signal.removeEventListener('abort', onAbort)
    }
  }
  const both = Promise.all([identified(dialer, listener.peerId), identified(listener, dialer.peerId)])
  await dialer.dial(listener.getMultiaddrs()[0], { signal })
  await both
}

/** What a receiver does with each piece a message brings (a last partial chunk is left unhashed). */
function receiverFor(kind: BareReceiver, chunkSize: number): (piece: Uint8Array) => void {
  if (kind === 'count') return () => {}
  const kept: Uint8Array[] = []
  if (kind === 'copy-hash') {
    let buffer: Uint8Array | undefined
    let filled = 0
    return (piece) => {
      for (let at = 0; at < piece.byteLength; ) {
        buffer ??= new Uint8Array(chunkSize)
        const n = Math.min(piece.byteLength - at, chunkSize - filled)
        buffer.set(n === piece.byteLength ? piece : piece.subarray(at, at + n), filled)
        filled += n
        at += n
        if (filled === chunkSize) {
          blake3(buffer)
          kept.push(buffer)
          buffer = undefined
          filled = 0
        }
      }
    }
  }
  let hasher = createBlake3Hasher()
  let filled = 0
  return (piece) => {
    for (let at = 0; at < piece.byteLength; ) {
      const n = Math.min(piece.byteLength - at, chunkSize - filled)
      const part = n === piece.byteLength ? piece : piece.subarray(at, at + n)
      hasher.update(part)
      kept.push(part)
      filled += n
      at += n
      if (filled === chunkSize) {
        hasher.digest()
        hasher = createBlake3Hasher()
        filled = 0
      }
    }
  }
}

/**
 * Moves `size` bytes over one libp2p stream between two fresh hosts in this process,
 * `blockSize` bytes per write, and returns MiB/s from opening the stream to the last byte in.
 */
export async function bareStream(size: number, blockSize: number, receiver: BareReceiver): Promise<number> {
  const a = await createHost({ dht: false })
  const b = await createHost({ dht: false })
  await a.start()
  await b.start()
  try {
    const take = receiverFor(receiver, blockSize)
    let received = 0
    const done = Promise.withResolvers<void>()
    await b.handle(PROTOCOL, (stream) => {
      stream.addEventListener('message', (evt) => {
        if (evt.data instanceof Uint8Array) take(evt.data)
        else for (const piece of evt.data) take(piece)
        received += evt.data.byteLength
        if (received >= size) done.resolve()
      })
    })
    await connectSettled(a, b)
    const block = new Uint8Array(blockSize)
    const t0 = performance.now()
    const stream = await a.dialProtocol(b.getMultiaddrs()[0], PROTOCOL)
    for (let sent = 0; sent < size; sent += block.byteLength) {
      if (!stream.send(block.subarray(0, Math.min(block.byteLength, size - sent)))) await stream.onDrain()
    }
    await done.promise
    return size / (1024 * 1024) / ((performance.now() - t0) / 1000)
  } finally {
    await a.stop()
    await b.stop()
  }
}
