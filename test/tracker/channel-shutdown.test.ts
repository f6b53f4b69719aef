/**
 * A tracker that stops closes every channel and lets go of them: a connection whose peer
 * never answers the WebSocket close (a dead link, a node frozen mid-handshake) must not
 * hold the shutdown, nor the data directory a standby waits to take over.
 */
import { once } from 'node:events'
import { connect } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { CHANNEL_PROTOCOL } from '../../node/agent/protocol.ts'
import { Harness, until } from './harness.ts'

const h = new Harness()
afterEach(() => h.teardown())

describe('tracker shutdown', () => {
  // ws waits 30 s for the peer's answer to a close frame before it drops the socket; the
  // bound here is below that, so the old code fails by the test's timeout
  it('does not wait on a channel whose peer never answers the close', { timeout: 20_000 }, async () => {
    const t = await h.tracker({ dataDir: await h.tmp() })
    h.trackers.splice(h.trackers.indexOf(t), 1)
    const { hostname, port } = new URL(t.url)
    // a peer that completes the upgrade, then says nothing at all (not even a close frame)
    const mute = connect(Number(port), hostname)
    mute.on('error', () => {})
    let received = ''
    mute.on('data', (d) => {
      received += d.toString('latin1')
    })
    mute.write(
      `GET /channel HTTP/1.1\r\nHost: ${hostname}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
        `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ${CHANNEL_PROTOCOL}\r\n` +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
    )
    await until(() => received.includes('"challenge"'), 'challenge')
    const closed = once(mute, 'close')
    await t.close()
    // the tracker dropped the connection itself (the peer never closed it)
    await closed
    expect(received).toMatch(/^HTTP\/1\.1 101 /)
  })
})
