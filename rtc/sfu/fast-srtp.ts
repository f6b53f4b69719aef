/**
 * The cheapest send path we found for werift subscribers: build each outgoing SRTP packet
 * straight from the incoming RTP bytes and write it to the connection's UDP socket.
 *
 * Per subscriber and packet this is one buffer, one AES-128-GCM cipher (RFC 7714) and one
 * `socket.send`; werift's path adds a packet clone, header re-serialisation (twice), IV writer
 * allocations, a `Buffer.concat` and three nested async functions per send. Key material, the
 * rollover-counter state and the nominated ICE pair are read from the werift objects of the
 * connection, so werift still owns the handshake, consent freshness and RTCP. Only the GCM
 * profiles take this path; others fall back to `RTCDtlsTransport.sendRtp`.
 */
import { createCipheriv, createSecretKey, type KeyObject } from 'node:crypto'
import type { RTCDtlsTransport } from 'werift'

interface SsrcState {
  rolloverCounter: number
}

interface Context {
  getSrtpSsrcState(ssrc: number): SsrcState
  updateRolloverCount(seq: number, s: SsrcState): void
  cipher: { srtpSessionKey?: Buffer; srtpSessionSalt?: Buffer; aeadAuthTagLen?: number }
}

interface IceConnection {
  canSendApplicationData(): boolean
  nominated?: { remoteAddr: [string, number]; protocol: { transport: { closed: boolean; socket: Socket } } }
}

interface Socket {
  send(buf: Buffer, port: number, address: string): void
}

/** What the fast path needs of one subscriber connection. */
export interface FastPath {
  /** Made once per connection: passing a raw Buffer makes Node build a key object per packet. */
  key: KeyObject
  salt: Buffer
  ctx: Context
  ice: IceConnection
  iv: Buffer
}

/** The fast path of a connected DTLS transport, or undefined when its SRTP profile is not AES-GCM. */
export function fastPathFor(dtls: RTCDtlsTransport): FastPath | undefined {
  const internals = dtls as unknown as {
    srtp?: { localContext?: Context }
    iceTransport?: { connection?: IceConnection }
  }
  const ctx = internals.srtp?.localContext
  const ice = internals.iceTransport?.connection
  const { srtpSessionKey: key, srtpSessionSalt: salt, aeadAuthTagLen } = ctx?.cipher ?? {}
  if (
    ctx === undefined ||
    ice === undefined ||
    key === undefined ||
    salt === undefined ||
    aeadAuthTagLen !== 16
  ) {
    return undefined
  }
  if (typeof ctx.getSrtpSsrcState !== 'function' || typeof ice.canSendApplicationData !== 'function')
    return undefined
  return { key: createSecretKey(key), salt, ctx, ice, iv: Buffer.alloc(12) }
}

/** Where the payload of a raw RTP packet starts and ends (RFC 3550 5.1, 5.3.1). */
export function payloadBounds(buf: Buffer): { start: number; end: number } | undefined {
  if (buf.length < 12) return undefined
  let start = 12 + 4 * (buf[0] & 0x0f)
  if ((buf[0] & 0x10) !== 0) {
    if (buf.length < start + 4) return undefined
    start += 4 + 4 * buf.readUInt16BE(start + 2)
  }
  let end = buf.length
  if ((buf[0] & 0x20) !== 0) end -= buf[buf.length - 1]
  if (end < start) return undefined
  return { start, end }
}

/**
 * Encrypts and sends one packet: the 12-byte fixed header of `raw` (no CSRCs, extensions or
 * padding: their ids and meaning belong to the publisher's connection) with `ssrc` and
 * `payloadType` rewritten and `seqDelta` / `tsDelta` added to its sequence number and timestamp
 * (modulo 2^16 / 2^32), then `raw[start..end)` as payload. Returns false if not sent.
 */
export function sendFast(
  fp: FastPath,
  raw: Buffer,
  start: number,
  end: number,
  ssrc: number,
  payloadType: number,
  seqDelta = 0,
  tsDelta = 0,
): boolean {
  const pair = fp.ice.nominated
  // RFC 7675: no application data once consent to send has expired
  if (pair === undefined || pair.protocol.transport.closed || !fp.ice.canSendApplicationData()) return false
  const payloadLength = end - start
  const out = Buffer.allocUnsafe(12 + payloadLength + 16)
  out[0] = 0x80 // V=2, no padding, no extension, no CSRC
  out[1] = (raw[1] & 0x80) | (payloadType & 0x7f)
  const seq = (raw.readUInt16BE(2) + seqDelta) & 0xffff
  out.writeUInt16BE(seq, 2)
  out.writeUInt32BE((raw.readUInt32BE(4) + tsDelta) >>> 0, 4)
  out.writeUInt32BE(ssrc >>> 0, 8)
  const state = fp.ctx.getSrtpSsrcState(ssrc)
  fp.ctx.updateRolloverCount(seq, state)
  // RFC 7714 8.1: IV = (0x0000 || SSRC || ROC || SEQ) XOR salt
  const iv = fp.iv
  iv.writeUInt16BE(0, 0)
  iv.writeUInt32BE(ssrc >>> 0, 2)
  iv.writeUInt32BE(state.rolloverCounter >>> 0, 6)
  iv.writeUInt16BE(seq, 10)
  for (let i = 0; i < 12; i++) iv[i] ^= fp.salt[i]
  const cipher = createCipheriv('aes-128-gcm', fp.key, iv)
  cipher.setAAD(out.subarray(0, 12))
  const enc = cipher.update(raw.subarray(start, end))
  enc.copy(out, 12)
  cipher.final()
  cipher.getAuthTag().copy(out, 12 + payloadLength)
  pair.protocol.transport.socket.send(out, pair.remoteAddr[1], pair.remoteAddr[0])
  return true
}
