/**
 * The life of a client media connection: its peer config from the server's welcome, waiting for
 * it to connect (or for the signaling client to be back), and replacing it when it fails later.
 */
import type { RTCPeerConnection } from 'werift'
import { type PeerConfigInit, peerConfig } from '../sfu/peer-config.ts'
import type { SignalingClient } from '../signaling/client.ts'

/** Resolves once `pc` is connected; rejects if it fails or closes first, or `signal` aborts. */
export function waitConnected(pc: RTCPeerConnection, signal?: AbortSignal): Promise<void> {
  if (pc.connectionState === 'connected') return Promise.resolve()
  // an abort event that already fired will not fire again
  if (signal?.aborted === true) return Promise.reject(signal.reason)
  return new Promise((resolve, reject) => {
    const sub = pc.connectionStateChange.subscribe((s) => {
      if (s === 'connected') {
        stop()
        resolve()
      } else if (s === 'failed' || s === 'closed') {
        stop()
        reject(new Error(`connection ${s}`))
      }
    })
    const onAbort = (): void => {
      stop()
      reject(signal?.reason)
    }
    const stop = (): void => {
      sub.unSubscribe()
      signal?.removeEventListener('abort', onAbort)
    }
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

/** Resolves on the client's next `welcome` (it is back in the room); rejects when `signal` aborts. */
export function welcomed(sig: SignalingClient, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(signal.reason)
  return new Promise((resolve, reject) => {
    const onWelcome = (): void => {
      signal.removeEventListener('abort', onAbort)
      resolve()
    }
    const onAbort = (): void => {
      sig.off('welcome', onWelcome)
      reject(signal.reason)
    }
    sig.once('welcome', onWelcome)
    signal.addEventListener('abort', onAbort, { once: true })
  })
}

/**
 * The peer config of a connection made for `sig`: the STUN/TURN servers its server announced,
 * unless `init` names its own.
 */
export function clientPeerConfig(sig: SignalingClient, init: PeerConfigInit): ReturnType<typeof peerConfig> {
  return peerConfig(init.iceServers === undefined ? { ...init, iceServers: sig.iceServers } : init)
}

/**
 * Replaces a connection that fails later (network change, consent expired) by running
 * `connect` again, and watches the new one the same way; the SFU has already freed the
 * failed one's side.
 */
export function replaceOnFailure(
  current: () => RTCPeerConnection,
  connect: () => Promise<void>,
  closed: () => boolean,
): void {
  const watch = (conn: RTCPeerConnection): void => {
    conn.connectionStateChange.subscribe((state) => {
      if (state !== 'failed' || closed() || conn !== current()) return
      conn.close().catch(() => {})
      connect().then(
        () => watch(current()),
        () => {},
      )
    })
  }
  watch(current())
}
