/** werift peer-connection settings shared by the SFU, test peers and the benchmark. */
import {
  type PeerConfig,
  RTCRtpCodecParameters,
  RTCRtpHeaderExtensionParameters,
  useAbsSendTime,
  useSdesMid,
} from 'werift'
import { SFU_TURN_USER, type TurnSecretInit, withTurnCredentials } from '../turn-credentials.ts'
import { useNativeX25519 } from './native-x25519.ts'

/** Payload type of VP8 in every offer we make. */
export const VP8_PT = 96
/** Payload type of Opus in every offer we make. */
export const OPUS_PT = 111
/** Header-extension id of ssrc-audio-level (RFC 6464) in offers we make. */
export const AUDIO_LEVEL_EXT_ID = 10
/** URI of the ssrc-audio-level header extension. */
export const AUDIO_LEVEL_URI = 'urn:ietf:params:rtp-hdrext:ssrc-audio-level'

/** Options of {@link peerConfig}. */
export interface PeerConfigInit {
  /** Bind ICE to loopback only (tests, benchmark). @default false */
  loopback?: boolean
  /** Extra host addresses to gather (e.g. the LAN address the SFU is reached on). */
  hostAddresses?: string[]
  /** Give werift's DTLS Node's native X25519 (see `native-x25519.ts`). @default true */
  nativeX25519?: boolean
  /**
   * STUN/TURN servers, for peers behind NAT (`--ice-server`). werift gathers with the first STUN
   * and the first TURN URL of the list. @default []
   */
  iceServers?: Array<{ urls: string | string[]; username?: string; credential?: string }>
  /**
   * The TURN server's shared secret: a TURN server of {@link iceServers} without credentials
   * gets credentials minted for the SFU (user `sfu`) for each connection made.
   */
  turn?: TurnSecretInit
}

/**
 * VP8 with NACK and PLI feedback, Opus, and the audio-level extension; no RTX, so a
 * retransmission is the original packet again. No trickle: werift gathers host candidates
 * before `setLocalDescription` resolves.
 */
export function peerConfig(init: PeerConfigInit = {}): Partial<PeerConfig> {
  if (init.nativeX25519 !== false) useNativeX25519()
  const config: Partial<PeerConfig> = {
    codecs: {
      video: [
        new RTCRtpCodecParameters({
          mimeType: 'video/VP8',
          clockRate: 90000,
          payloadType: VP8_PT,
          rtcpFeedback: [{ type: 'nack' }, { type: 'nack', parameter: 'pli' }],
        }),
      ],
      audio: [
        new RTCRtpCodecParameters({
          mimeType: 'audio/opus',
          clockRate: 48000,
          channels: 2,
          payloadType: OPUS_PT,
        }),
      ],
    },
    headerExtensions: {
      audio: [
        useSdesMid(),
        new RTCRtpHeaderExtensionParameters({ id: AUDIO_LEVEL_EXT_ID, uri: AUDIO_LEVEL_URI }),
      ],
      video: [useSdesMid(), useAbsSendTime()],
    },
    // werift's default ("max-compat") gathers one ICE transport per m-line and, once the answer
    // bundles them, drops the extra ones without closing their sockets: one UDP socket leaked per
    // connection of audio + video (a class of 200 joining and leaving ran the SFU out of ports
    // slowly). Everything we talk to bundles, so gather one transport from the start.
    bundlePolicy: 'max-bundle',
    iceUseIpv6: false,
    iceUseTcp: false,
    // With no STUN server configured, werift's ICE agent still asks stun.l.google.com (a DNS
    // lookup plus a 5 s gathering timeout when offline — seen here as 5 s joins). Point it at a
    // loopback port instead, so there is no DNS lookup, and stop waiting for it after 50 ms:
    // host candidates are all a LAN or loopback call needs.
    iceServers: [{ urls: 'stun:127.0.0.1:9' }],
    iceStunGatherTimeout: 0.05,
  }
  if (init.iceServers !== undefined && init.iceServers.length > 0) {
    // copies: werift keeps its config, and the caller's (frozen, shared) list stays as it is;
    // credentials minted now, for this connection, where a TURN server is given none
    config.iceServers = withTurnCredentials(init.iceServers, init.turn, SFU_TURN_USER)
    config.iceStunGatherTimeout = undefined
  }
  if (init.loopback === true) {
    config.iceAdditionalHostAddresses = ['127.0.0.1', ...(init.hostAddresses ?? [])]
    config.iceInterfaceAddresses = { udp4: '127.0.0.1' }
  } else if (init.hostAddresses !== undefined) {
    config.iceAdditionalHostAddresses = init.hostAddresses
  }
  return config
}

/** The id a remote SDP gave the audio-level extension, if it offered one. */
export function audioLevelExtId(sdp: string): number | undefined {
  const m = /a=extmap:(\d+)(?:\/\w+)? urn:ietf:params:rtp-hdrext:ssrc-audio-level/.exec(sdp)
  return m === null ? undefined : Number(m[1])
}
