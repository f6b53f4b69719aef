/**
 * A node stopping (SIGTERM, a restart) while players are connected: a paused video holds
 * its response open for as long as the tab lives, and a browser may hold a connection it
 * has sent nothing on yet. Neither may keep the node from stopping.
 */

import { get, type IncomingMessage } from 'node:http'
import { connect, type Socket } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { addContent, Harness, originKey, randomContent, TEST_CHUNK_SIZE, until } from '../utils/harness.ts'
import { swarmInternals } from './introspect.ts'

/** A bound for the test itself: a stop that hangs fails the test instead of hanging it. */
const TEST_BOUND_MS = 10_000

describe('playback server shutdown', () => {
  const h = new Harness()
  const sockets: Socket[] = []
  afterEach(async () => {
    for (const s of sockets.splice(0)) s.destroy()
    await h.teardown()
  })

  it('stops while players hold paused responses and idle connections, ending their reads', async () => {
    const key = await originKey()
    const bytes = randomContent(32 * TEST_CHUNK_SIZE)
    const node = await h.spawn({ dataDir: await h.tempDir(), playback: { port: 0 } })
    const m = await addContent(node.store, bytes, key)
    await node.seed(m)
    const url = `${node.playbackUrl}/content/${m.cid.toString()}`

    // three players that paused their videos: responses open, unread
    const players = await Promise.all(
      [0, 1, 2].map(
        () =>
          new Promise<IncomingMessage>((resolve, reject) => {
            const req = get(url, { agent: false }, (res) => {
              res.pause()
              resolve(res)
            })
            req.on('socket', (s) => sockets.push(s))
            req.on('error', reject)
          }),
      ),
    )
    for (const res of players) expect(res.statusCode).toBe(200)
    // and a connection nothing was asked on yet (a browser's preconnect)
    const { port } = new URL(node.playbackUrl!)
    const idle = connect(Number(port), '127.0.0.1')
    sockets.push(idle)
    await new Promise<void>((resolve, reject) => idle.once('connect', resolve).once('error', reject))
    const swarm = swarmInternals(node, m.cid.toString())
    await until(() => swarm.openReads === 3)
    const stopped = await Promise.race([
      node.stop().then(() => 'stopped'),
      new Promise((resolve) => setTimeout(() => resolve('still waiting for its players'), TEST_BOUND_MS)),
    ])
    expect(stopped).toBe('stopped')
    await until(() => swarm.openReads === 0)
    // the players, reading on, find their responses cut short (and can go to another node)
    await Promise.all(
      players.map(
        (res) =>
          new Promise<void>((resolve) => {
            res.once('close', resolve)
            res.once('error', () => resolve())
            res.resume()
          }),
      ),
    )
    for (const res of players) expect(res.complete).toBe(false)
  })
})
