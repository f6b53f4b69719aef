/**
 * What one swarm's sessions call ({@link SessionOwner}): each frame from a peer handed to
 * the part of the swarm that acts on it (`peers.ts`, `intake.ts`), and the upload side's
 * slots and serving (`server.ts`).
 */
import type { UploadGate } from '../limiter/index.ts'
import type { ChunkBuffers } from './chunk-buffers.ts'
import { type Frame, FrameType } from './codec.ts'
import { ProtocolError } from './errors.ts'
import type { ChunkIntake } from './intake.ts'
import type { SwarmPeers } from './peers.ts'
import type { ChunkServer } from './server.ts'
import type { PeerSession, SessionOwner } from './session.ts'
import type { Swarm } from './swarm.ts'
import type { SwarmComponents } from './swarm-types.ts'

/** What the router reads of its swarm. */
export type RoutedSwarm = Pick<Swarm, 'manifest' | 'onManifestBytes' | 'availability'>

/** Live things a {@link FrameRouter} uses: the swarm and the parts it routes to. */
export interface FrameRouterComponents extends Pick<SwarmComponents, 'limiter' | 'log' | 'chunkBuffers'> {
  swarm: RoutedSwarm
  peers: SwarmPeers
  intake: ChunkIntake
  server: ChunkServer
}

/** The session owner of one swarm: routes its sessions' frames and requests to its parts. */
export class FrameRouter implements SessionOwner {
  private readonly swarm: RoutedSwarm
  private readonly c: FrameRouterComponents
  private readonly peers: SwarmPeers
  private readonly intake: ChunkIntake
  private readonly server: ChunkServer
  private readonly buffers?: ChunkBuffers

  constructor(components: FrameRouterComponents) {
    this.c = components
    this.swarm = components.swarm
    this.peers = components.peers
    this.intake = components.intake
    this.server = components.server
    this.buffers = components.chunkBuffers
  }

  onFrame(session: PeerSession, frame: Frame): void {
    switch (frame.type) {
      case FrameType.Manifest:
        // "every frame size-limited", and a manifest only when asked for, once: each is
        // hashed (and, if it matches, decoded and verified) on the event loop
        if (!session.askedManifest || session.sentManifest) throw new ProtocolError('unsolicited manifest')
        session.sentManifest = true
        if (this.swarm.manifest === undefined) this.swarm.onManifestBytes?.(frame.bytes, session)
        return
      case FrameType.Bitfield:
        this.peers.bitfield(session, frame.bits)
        return
      case FrameType.Have:
        this.peers.have(session, frame.index)
        return
      case FrameType.DontHave:
        this.peers.dontHave(session, frame.index)
        return
      case FrameType.Chunk:
        this.intake
          .receive(session, frame.index, frame.bytes)
          .catch((err: Error) => this.c.log.error('storing chunk failed: %e', err))
          // stored (or refused): the store holds no reference to a shared buffer once its put settled
          .finally(() => this.buffers?.give(frame.bytes))
        return
    }
  }

  onClose(session: PeerSession): void {
    this.peers.closed(session)
  }

  /** The node's upload slots (granted rarest chunk first). */
  get uploads(): UploadGate {
    return this.c.limiter.uploads
  }

  rarity(index: number): number {
    return this.swarm.availability[index] ?? 0
  }

  /** A chunk frame's header: whether to receive it (`ChunkIntake.admit`). */
  admitChunk(session: PeerSession, index: number): boolean {
    return this.intake.admit(session, index)
  }

  chunkBuffer(size: number): Uint8Array {
    // unshared memory needs no zeroing: the decoder fills every byte before anyone reads it
    return this.buffers?.take(size) ?? Buffer.allocUnsafeSlow(size)
  }

  /** Serves one queued request of `session` (`ChunkServer.serve`). */
  serve(session: PeerSession, index: number, signal: AbortSignal): Promise<boolean> {
    return this.server.serve(session, index, signal)
  }
}
