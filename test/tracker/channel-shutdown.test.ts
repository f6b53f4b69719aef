/**
 * A tracker that closes a channel lets go of it: a connection whose peer never answers the
 * WebSocket close (a dead link, a node frozen mid-handshake) must not hold the shutdown,
 * nor the data directory a standby waits to take over, nor a handshake slot live nodes need.
 */
import { once } from 'node:events'
import { connect, type Socket } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { CHANNEL_PROTOCOL } from '../../node/agent/protocol.ts'
import { Harness, until } from './harness.ts'

const h = new Harness()
afterEach(() => h.teardown())

/**
 * A peer that completes the channel's upgrade and then answers nothing (not even a close
 * frame); `received` is what the tracker sent it, `closed` settles when the tracker drops it.
 */
async function mutePeer(
  url: string,
): Promise<{ socket: Socket; received: () => string; closed: Promise<unknown> }> {
  const { hostname, port } = new URL(url)
  const socket = connect(Number(port), hostname)
  socket.on('error', () => {})
  let received = ''
  socket.on('data', (d) => {
    received += d.toString('latin1')
  })
  const closed = once(socket, 'close')
  socket.write(
    `GET /channel HTTP/1.1\r\nHost: ${hostname}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
      `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ${CHANNEL_PROTOCOL}\r\n` +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
  )
  await until(() => received.includes('"challenge"'), 'challenge')
  return { socket, received: () => received, closed }
}

describe('tracker shutdown', () => {
  // ws waits 30 s for the peer's answer to a close frame before it drops the socket; the
  // bound here is below that, so the old code fails by the test's timeout
  it('does not wait on a channel whose peer never answers the close', { timeout: 20_000 }, async () => {
    const t = await h.tracker({ dataDir: await h.tmp() })
    h.trackers.splice(h.trackers.indexOf(t), 1)
    const mute = await mutePeer(t.url)
    await t.close()
    // the tracker dropped the connection itself (the peer never closed it)
    await mute.closed
    expect(mute.received()).toMatch(/^HTTP\/1\.1 101 /)
  })
})

describe('a channel the tracker closes', () => {
  // ws held a closing channel 30 s for its peer's answer, counted among the handshakes in
  // progress all along: with the one slot taken, live nodes were refused as busy that long
  it('frees its handshake slot though its peer never answers the close', { timeout: 20_000 }, async () => {
    const t = await h.tracker({ maxPendingHandshakes: 1 })
    await h.seed(t)
    const mute = await mutePeer(t.url)
    // one masked text frame, "x": not a frame of the protocol, so the tracker closes the channel
    mute.socket.write(Buffer.from([0x81, 0x81, 0, 0, 0, 0, 0x78]))
    await mute.closed
    const a = await h.agent([t.channelUrl], 'a', { campus: 'bj-1' })
    await until(() => a.agent.connected, 'a connected')
  })
})
