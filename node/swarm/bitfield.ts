/** A fixed-size set of chunk indices, packed most-significant bit first (as in BitTorrent). */
import { ProtocolError } from './errors.ts'

/** Which chunks a peer (or this node) holds. */
export class Bitfield {
  readonly size: number
  readonly bytes: Uint8Array
  private count = 0

  constructor(size: number, bytes?: Uint8Array) {
    this.size = size
    const length = Math.ceil(size / 8)
    if (bytes === undefined) {
      this.bytes = new Uint8Array(length)
      return
    }
    // "spare bits at the end must be zero", and the length must match the manifest exactly
    if (bytes.byteLength !== length)
      throw new ProtocolError(`bitfield of ${bytes.byteLength} bytes for ${size} chunks`)
    const spare = length * 8 - size
    if (spare > 0 && (bytes[length - 1] & ((1 << spare) - 1)) !== 0)
      throw new ProtocolError('bitfield has spare bits set')
    this.bytes = bytes.slice()
    for (let i = 0; i < size; i++) if (this.has(i)) this.count++
  }

  has(i: number): boolean {
    return (this.bytes[i >> 3] & (0x80 >> (i & 7))) !== 0
  }

  /** Sets bit `i`; returns false when it was already set. */
  set(i: number): boolean {
    if (i < 0 || i >= this.size) throw new ProtocolError(`chunk index ${i} out of range`)
    if (this.has(i)) return false
    this.bytes[i >> 3] |= 0x80 >> (i & 7)
    this.count++
    return true
  }

  clear(i: number): void {
    if (!this.has(i)) return
    this.bytes[i >> 3] &= ~(0x80 >> (i & 7))
    this.count--
  }

  /** Number of set bits. */
  get cardinality(): number {
    return this.count
  }

  get complete(): boolean {
    return this.count === this.size
  }
}
