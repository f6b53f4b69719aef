/**
 * A STUN server on 127.0.0.1 for tests (RFC 5389 Binding only): counts the requests it gets and
 * answers them with the sender's address, or, while `hold` is set, leaves them unanswered, so a
 * werift connection gathering with it stays in its gathering (up to its 5 s STUN timeout).
 */
import { createSocket } from 'node:dgram'
import { EventEmitter } from 'node:events'

const COOKIE = 0x2112a442

export interface StunServer {
  /** `stun:127.0.0.1:<port>` */
  url: string
  /** Binding requests received. */
  requests: number
  /** Leave requests unanswered. */
  hold: boolean
  /** Resolves on the next binding request. */
  nextRequest(): Promise<void>
  close(): Promise<void>
}

export async function startStunServer(init: { hold?: boolean } = {}): Promise<StunServer> {
  const socket = createSocket('udp4')
  const events = new EventEmitter()
  const server: StunServer = {
    url: '',
    requests: 0,
    hold: init.hold ?? false,
    nextRequest: () => new Promise((resolve) => events.once('request', () => resolve())),
    close: () => new Promise((resolve) => socket.close(() => resolve())),
  }
  socket.on('message', (msg, from) => {
    // a Binding request: type 0x0001 and the magic cookie (RFC 5389 §6)
    if (msg.length < 20 || msg.readUInt16BE(0) !== 0x0001 || msg.readUInt32BE(4) !== COOKIE) return
    server.requests++
    events.emit('request')
    if (server.hold) return
    const res = Buffer.alloc(32)
    res.writeUInt16BE(0x0101, 0) // Binding success response
    res.writeUInt16BE(12, 2)
    res.writeUInt32BE(COOKIE, 4)
    msg.copy(res, 8, 8, 20) // transaction id
    res.writeUInt16BE(0x0020, 20) // XOR-MAPPED-ADDRESS
    res.writeUInt16BE(8, 22)
    res.writeUInt16BE(0x0001, 24) // IPv4
    res.writeUInt16BE(from.port ^ (COOKIE >>> 16), 26)
    const ip = from.address.split('.').reduce((a, o) => (a << 8) | Number(o), 0) >>> 0
    res.writeUInt32BE((ip ^ COOKIE) >>> 0, 28)
    socket.send(res, from.port, from.address)
  })
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()))
  server.url = `stun:127.0.0.1:${socket.address().port}`
  return server
}
