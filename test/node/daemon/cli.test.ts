import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { runFetchCommand, runLimitsCommand } from '../../../node/daemon/api-commands.ts'
import { runNodeCommand } from '../../../node/daemon/cli.ts'
import { fromEnv, resolveConfig } from '../../../node/daemon/config.ts'
import { addContent, Harness, originKey, randomContent, until } from '../utils/harness.ts'

describe('node daemon CLI', () => {
  const h = new Harness()
  afterEach(async () => await h.teardown())

  it('layers file < env < flags, rejects unknown keys and freezes the result', () => {
    const config = resolveConfig(
      { data: '/a', campus: 'file', city: 'lyon' },
      { campus: 'env' },
      { campus: 'flag' },
    )
    expect(config).toMatchObject({ data: '/a', campus: 'flag', city: 'lyon', role: 'campus', dht: true })
    expect(Object.isFrozen(config)).toBe(true)
    expect(Object.isFrozen(config.bootstrap)).toBe(true)
    expect(() => resolveConfig({ data: '/a', colour: 'blue' } as never)).toThrow(/colour/)
    expect(() => resolveConfig({ data: '/a', role: 'server' } as never)).toThrow(/role/)
    expect(() => resolveConfig({})).toThrow(/data/)
    // direct I/O is on unless turned off, and a variable says false in words
    expect(resolveConfig({ data: '/a' }).directIo).toBe(true)
    expect(resolveConfig({ data: '/a' }, fromEnv({ DANDELION_DIRECT_IO: 'false' })).directIo).toBe(false)
  })

  it('runs a daemon from env and flags, places content with `fetch`, changes its rates with `limits`, and stops gracefully', async () => {
    const key = await originKey()
    const bytes = randomContent(1024 * 1024)
    const seeder = await h.spawn()
    const manifest = await addContent(seeder.store, bytes, key)
    await seeder.seed(manifest)

    const lines: string[] = []
    const stop = new AbortController()
    const dataDir = await h.tempDir()
    const daemon = runNodeCommand(
      ['--listen', '/ip4/127.0.0.1/tcp/0', '--playback-port', '0', '--no-dht', '--campus', 'north'],
      {
        env: { DANDELION_DATA: dataDir, DANDELION_BOOTSTRAP: seeder.multiaddrs[0].toString() },
        stdout: (l) => lines.push(l),
        signal: stop.signal,
      },
    )
    await until(() => lines.some((l) => l.includes('"ready"')))
    const ready = JSON.parse(lines.find((l) => l.includes('"ready"'))!) as { api: string; peerId: string }
    await until(() => seeder.libp2p.getConnections().some((c) => c.remotePeer.toString() === ready.peerId))

    // placing content needs the daemon's API token (generated in its data directory)
    const place = `${ready.api}/fetch/${manifest.cid.toString()}`
    expect((await fetch(place, { method: 'POST' })).status).toBe(401)
    expect(
      (await fetch(place, { method: 'POST', headers: { authorization: 'Bearer wrong-token' } })).status,
    ).toBe(403)
    await expect(
      runFetchCommand([manifest.cid.toString(), '--node', ready.api], { stdout: () => {}, env: {} }),
    ).rejects.toThrow(/API token/)
    expect(((await (await fetch(`${ready.api}/status`)).json()) as { swarms: unknown[] }).swarms).toEqual([])

    const progress: string[] = []
    await runFetchCommand([manifest.cid.toString(), '--node', ready.api, '--data', dataDir], {
      stdout: (l) => progress.push(l),
      env: {},
    })
    expect(progress.at(-1)).toContain('"done"')
    const status = (await (await fetch(`${ready.api}/status`)).json()) as {
      campus: string
      totals: { bytesFromPeers: number }
    }
    expect(status.campus).toBe('north')
    expect(status.totals.bytesFromPeers).toBe(bytes.byteLength)

    // rates change while the daemon runs; only the operator may change them; bad ones are refused
    const limitsUrl = `${ready.api}/limits`
    await expect(
      runLimitsCommand(['--download', '1000000', '--node', ready.api], { stdout: () => {}, env: {} }),
    ).rejects.toThrow(/API token/)
    const shown: string[] = []
    await runLimitsCommand(
      ['--download', '1000000', '--origin', 'none', '--node', ready.api, '--data', dataDir],
      {
        stdout: (l) => shown.push(l),
        env: {},
      },
    )
    expect(JSON.parse(shown.at(-1)!)).toEqual({
      event: 'limits',
      uploadBytesPerSecond: null,
      downloadBytesPerSecond: 1000000,
      originBytesPerSecond: null,
    })
    expect(await (await fetch(limitsUrl)).json()).toMatchObject({ downloadBytesPerSecond: 1000000 })
    await expect(
      runLimitsCommand(['--upload', 'fast', '--node', ready.api, '--data', dataDir], {
        stdout: () => {},
        env: {},
      }),
    ).rejects.toThrow(/--upload must be a positive number/)
    const token = (await readFile(join(dataDir, 'api-token'), 'utf8')).trim()
    for (const body of [{ uploadBytesPerSecond: -1 }, { speed: 5 }, {}, [1]]) {
      const res = await fetch(limitsUrl, {
        method: 'PUT',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      })
      expect(res.status).toBe(400)
      expect(((await res.json()) as { error: string }).error).toBe('InvalidLimitsError')
    }
    // nothing a refused call carried was applied
    expect(await (await fetch(limitsUrl)).json()).toEqual({
      uploadBytesPerSecond: null,
      downloadBytesPerSecond: 1000000,
      originBytesPerSecond: null,
    })
    await runLimitsCommand(['--download', 'none', '--node', ready.api, '--data', dataDir], {
      stdout: (l) => shown.push(l),
      env: {},
    })
    expect(JSON.parse(shown.at(-1)!).downloadBytesPerSecond).toBeNull()

    stop.abort()
    await daemon
    expect(lines.at(-1)).toContain('"stopped"')
  })

  it('`fetch` fails clearly when the download cannot start or its store refuses the chunks', async () => {
    const key = await originKey()
    const seeder = await h.spawn()
    const tooBig = await addContent(seeder.store, randomContent(1024 * 1024), key)
    await seeder.seed(tooBig)
    // a manifest that no peer holds (and no origin is configured)
    const nobody = await addContent((await h.spawn()).store, randomContent(1024), key)

    const lines: string[] = []
    const stop = new AbortController()
    const dataDir = await h.tempDir()
    const daemon = runNodeCommand(
      ['--listen', '/ip4/127.0.0.1/tcp/0', '--playback-port', '0', '--no-dht', '--role', 'device'],
      {
        env: {
          DANDELION_DATA: dataDir,
          DANDELION_BOOTSTRAP: seeder.multiaddrs[0].toString(),
          // room for less than half of the content
          DANDELION_QUOTA_BYTES: String(400 * 1024),
        },
        stdout: (l) => lines.push(l),
        signal: stop.signal,
      },
    )
    await until(() => lines.some((l) => l.includes('"ready"')))
    const ready = JSON.parse(lines.find((l) => l.includes('"ready"'))!) as { api: string; peerId: string }
    await until(() => seeder.libp2p.getConnections().some((c) => c.remotePeer.toString() === ready.peerId))

    const fetchCli = (cid: string, ...flags: string[]) =>
      runFetchCommand([cid, '--node', ready.api, '--data', dataDir, ...flags], { stdout: () => {}, env: {} })
    await expect(fetchCli(nobody.cid.toString(), '--start-timeout', '1')).rejects.toMatchObject({
      name: 'FetchNotStartedError',
      message: expect.stringContaining('did not start within 1 s'),
    })
    await expect(fetchCli(tooBig.cid.toString())).rejects.toMatchObject({
      name: 'FetchFailedError',
      message: expect.stringContaining('cannot store chunk'),
    })
    await expect(fetchCli(tooBig.cid.toString(), '--start-timeout', 'soon')).rejects.toThrow(
      /--start-timeout must be a positive number/,
    )

    stop.abort()
    await daemon
  })

  it('prints help and rejects unknown flags', async () => {
    const out: string[] = []
    await runNodeCommand(['--help'], { stdout: (l) => out.push(l) })
    expect(out.join('\n')).toContain('--bootstrap')
    await expect(runNodeCommand(['--colour', 'blue'], { stdout: () => {} })).rejects.toThrow()
  })
})
