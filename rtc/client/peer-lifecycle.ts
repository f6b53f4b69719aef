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
 * failed one's side. Also as `sig` is welcomed into a new session (`rejoined`: the server
 * restarted, or dropped the session after its grace period): the SFU holds nothing of it any
 * more, and waiting for the connection to fail took ICE's 30 s. Returns a function that stops
 * watching.
 */
export function replaceOnFailure(
  current: () => RTCPeerConnection,
  connect: () => Promise<void>,
  closed: () => boolean,
  sig?: SignalingClient,
): () => void {
  /** The replacement under way: a failure and a rejoin close together make one. */
  let replacing: Promise<void> | undefined
  const replace = (conn: RTCPeerConnection): void => {
    if (closed() || conn !== current() || replacing !== undefined) return
    conn.close().catch(() => {})
    replacing = connect()
      .then(
        () => watch(current()),
        () => {},
      )
      .finally(() => {
        replacing = undefined
      })
  }
  const watch = (conn: RTCPeerConnection): void => {
    conn.connectionStateChange.subscribe((state) => {
      if (state === 'failed') replace(conn)
    })
  }
  watch(current())
  const onRejoined = (): void => replace(current())
  sig?.on('rejoined', onRejoined)
  return () => sig?.off('rejoined', onRejoined)
}
