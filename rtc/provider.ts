/**
 * The seam between the classroom layer (signaling, room state) and the media layer. The werift
 * SFU implements it; another backend (mediasoup, a cloud SFU) could be plugged in instead.
 */

/** Callbacks the media layer uses to talk back to the classroom layer. */
export interface RtcProviderHandlers {
  /** Send an SDP offer for `user`'s receive connection (first offer and every renegotiation). */
  offer(room: string, user: string, sdp: string): void
  /** The loudest publisher in `room` changed (`null`: nobody speaks). */
  speaker(room: string, user: string | null): void
}

/** Options every media call accepts. */
export interface ProviderOptions {
  /**
   * Aborts the call: a publish or subscribe negotiation under way stops, releases what it set up
   * (peer connection, tracks, join slot) and rejects with `AbortError` (`ERR_ABORTED`, `errors.ts`); an
   * already aborted signal is refused at once. The signaling server aborts a session's calls
   * when its user leaves.
   */
  signal?: AbortSignal
}

/** A media backend. All methods are idempotent per (room, user). */
export interface RtcProvider {
  /** Connects the provider to the classroom layer; called once before anything else. */
  attach(handlers: RtcProviderHandlers): void
  /** Accepts `user`'s publish offer (audio and/or video, sendonly) and returns the answer. */
  publish(room: string, user: string, offer: string, options?: ProviderOptions): Promise<string>
  /** Stops forwarding `user`'s media (e.g. taken off stage) and closes its publish connection. */
  unpublish(room: string, user: string, options?: ProviderOptions): Promise<void>
  /** Creates `user`'s receive connection; its offer arrives through {@link RtcProviderHandlers.offer}. */
  subscribe(room: string, user: string, options?: ProviderOptions): Promise<void>
  /** Completes a negotiation of `user`'s receive connection. */
  answer(room: string, user: string, sdp: string, options?: ProviderOptions): Promise<void>
  /** Tears down everything `user` owned in `room`. */
  leave(room: string, user: string, options?: ProviderOptions): Promise<void>
  /** Tears down everything. */
  close(): Promise<void>
  /**
   * Media counters for `/metrics`, read without side effects, if the provider keeps any.
   * @default none
   */
  counters?(): Promise<ProviderCounters>
}

/** What a media provider counts (`/metrics`). */
export interface ProviderCounters {
  /** Publishing connections, and the tracks they send. */
  publishers: number
  tracks: number
  /** Receive connections, and those connected. */
  subscribers: number
  subscribersConnected: number
  /** RTP packets received from publishers, sent to subscribers (by the tracks forwarded now), sent again on a NACK. */
  packetsReceived: number
  packetsSent: number
  packetsRetransmitted: number
  /** Keyframe requests sent to publishers. */
  keyframeRequests: number
}

/** A provider without media, for signaling-only deployments and tests. */
export class NullProvider implements RtcProvider {
  attach(): void {}
  async publish(): Promise<string> {
    throw new Error('media is disabled')
  }
  async unpublish(): Promise<void> {}
  async subscribe(): Promise<void> {
    throw new Error('media is disabled')
  }
  async answer(): Promise<void> {}
  async leave(): Promise<void> {}
  async close(): Promise<void> {}
}
