import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { ProtectionProfileAeadAes128Gcm, RtpHeader, RtpPacket, SrtpSession } from 'werift'
import { type FastPath, fastPathFor, payloadBounds, sendFast } from '../../../rtc/sfu/fast-srtp.ts'

const keys = {
  localMasterKey: randomBytes(16),
  localMasterSalt: randomBytes(12),
  remoteMasterKey: randomBytes(16),
  remoteMasterSalt: randomBytes(12),
}
const session = (): SrtpSession =>
  new SrtpSession({ keys: { ...keys }, profile: ProtectionProfileAeadAes128Gcm })

/** A fast path over `srtp` whose socket records what it sends. */
function fakePath(srtp: SrtpSession, sent: Buffer[]): FastPath {
  const dtls = {
    srtp,
    iceTransport: {
      connection: {
        canSendApplicationData: () => true,
        nominated: {
          remoteAddr: ['127.0.0.1', 9] as [string, number],
          protocol: {
            transport: { closed: false, socket: { send: (b: Buffer) => sent.push(Buffer.from(b)) } },
          },
        },
      },
    },
  }
  const fp = fastPathFor(dtls as never)
  if (fp === undefined) throw new Error('no fast path')
  return fp
}

describe('fast SRTP path', () => {
  it('produces exactly the bytes werift would send, across a sequence-number wrap', () => {
    // two sessions with the same keys: one behind the fast path, one encrypting the werift way
    const twin = session()
    const sent: Buffer[] = []
    const fp = fakePath(session(), sent)
    for (const seq of [65533, 65534, 65535, 0, 1]) {
      // a publisher packet with extensions and padding, as it arrives from another connection
      const incoming = new RtpPacket(
        new RtpHeader({
          payloadType: 100,
          sequenceNumber: seq,
          timestamp: 12345 + seq,
          marker: seq === 0,
          ssrc: 777,
          extension: true,
          extensions: [{ id: 3, payload: Buffer.from([1, 2, 3]) }],
        }),
        randomBytes(300),
      ).serialize()
      const bounds = payloadBounds(incoming)!
      expect(sendFast(fp, incoming, bounds.start, bounds.end, 0xdeadbeef, 96)).toBe(true)
      const expected = twin.encrypt(
        incoming.subarray(bounds.start, bounds.end),
        new RtpHeader({
          payloadType: 96,
          sequenceNumber: seq,
          timestamp: 12345 + seq,
          marker: seq === 0,
          ssrc: 0xdeadbeef,
        }),
      )
      expect(sent.at(-1)!.equals(expected)).toBe(true)
    }
  })

  it('finds the payload of packets with CSRCs, extensions and padding', () => {
    const b = Buffer.alloc(12 + 8 + 8 + 10 + 4)
    b[0] = 0x80 | 0x20 | 0x10 | 2 // padding, extension, 2 CSRCs
    b.writeUInt16BE(1, 12 + 8 + 2) // extension length: one word
    b[b.length - 1] = 4 // 4 bytes of padding
    expect(payloadBounds(b)).toEqual({ start: 28, end: 38 })
    expect(payloadBounds(Buffer.alloc(5))).toBeUndefined()
  })
})
