/**
 * Scrubbing as an operator meets it on the node daemon: `dandelion scrub --wait` finds a
 * chunk its disk changed, the daemon prints a `corrupt-on-disk` line naming it, fetches it
 * again from a peer, and `dandelion status` shows the pass.
 */
import { open, readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { publicKeyToProtobuf } from '@libp2p/crypto/keys'
import { afterEach, describe, expect, it } from 'vitest'
import { runFetchCommand } from '../../../node/daemon/api-commands.ts'
import { runNodeCommand } from '../../../node/daemon/cli.ts'
import { runScrubCommand } from '../../../node/daemon/scrub-command.ts'
import { runStatusCommand } from '../../../node/daemon/status-command.ts'
import { addContent, Harness, originKey, randomContent, TEST_CHUNK_SIZE, until } from '../utils/harness.ts'

const h = new Harness()
afterEach(async () => await h.teardown())

/** Flips a bit of `chunk` wherever the store's segment files hold it (found by its bytes). */
async function rotOnDisk(dataDir: string, chunk: Uint8Array): Promise<void> {
  const dir = join(dataDir, 'store', 'segments')
  const needle = Buffer.from(chunk.subarray(0, 64))
  for (const name of await readdir(dir)) {
    const path = join(dir, name)
    const at = (await readFile(path)).indexOf(needle)
    if (at < 0) continue
    const fh = await open(path, 'r+')
    await fh.write(new Uint8Array([chunk[10] ^ 0x01]), 0, 1, at + 10)
    await fh.close()
    return
  }
  throw new Error(`chunk not found in ${dir}`)
}

describe('node daemon scrubbing', () => {
  it('`dandelion scrub --wait` finds what the disk changed; the daemon says so and fetches it again', async () => {
    const key = await originKey()
    const seeder = await h.spawn()
    const bytes = randomContent(3 * TEST_CHUNK_SIZE)
    const m = await addContent(seeder.store, bytes, key, { name: 'lesson' })
    await seeder.seed(m)
    const dataDir = await h.tempDir()
    const lines: string[] = []
    const stop = new AbortController()
    const daemon = runNodeCommand(
      [
        ...['--listen', '/ip4/127.0.0.1/tcp/0', '--playback-port', '0', '--no-dht', '--data', dataDir],
        ...['--bootstrap', seeder.multiaddrs[0].toString(), '--scrub-interval-hours', '0'],
        ...['--trusted-origin', Buffer.from(publicKeyToProtobuf(key.publicKey)).toString('base64')],
      ],
      { env: {}, stdout: (l) => lines.push(l), stderr: () => {}, signal: stop.signal },
    )
    try {
      await until(() => lines.some((l) => l.includes('"ready"')))
      const { api } = JSON.parse(lines.find((l) => l.includes('"ready"'))!) as { api: string }
      await runFetchCommand([m.cid.toString(), '--node', api, '--data', dataDir], {
        stdout: () => {},
        env: {},
      })

      await rotOnDisk(dataDir, bytes.subarray(TEST_CHUNK_SIZE, 2 * TEST_CHUNK_SIZE))
      const said: string[] = []
      await runScrubCommand(['--node', api, '--data', dataDir, '--wait'], {
        stdout: (l) => said.push(l),
        env: {},
      })
      expect(JSON.parse(said.at(-1)!)).toMatchObject({ event: 'scrub-done', corruptFound: 1 })
      expect(lines.map((l) => JSON.parse(l) as { event: string; chunk?: string })).toContainEqual(
        expect.objectContaining({ event: 'corrupt-on-disk', chunk: m.chunks[1].toString() }),
      )
      // fetched again: the lesson reads whole from the daemon's player API
      await until(async () => {
        const res = await fetch(`${api}/content/${m.cid.toString()}`)
        return Buffer.from(await res.arrayBuffer()).equals(Buffer.from(bytes))
      })
      const shown: string[] = []
      await runStatusCommand(['--node', api], { stdout: (l) => shown.push(l), env: {} })
      expect(shown).toContainEqual(
        expect.stringMatching(
          /^scrub: last pass ended \d{4}-.* \(4 chunks checked, 1 corrupt \(dropped and fetched again\)\); next only when asked/,
        ),
      )
    } finally {
      stop.abort()
      await daemon
    }
  })
})
