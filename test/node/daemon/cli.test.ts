import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { publicKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPublicKey } from '@libp2p/peer-id'
import { afterEach, describe, expect, it } from 'vitest'
import { runFetchCommand, runLimitsCommand } from '../../../node/daemon/api-commands.ts'
import { runNodeCommand } from '../../../node/daemon/cli.ts'
import { resolveConfig } from '../../../node/daemon/config.ts'
import { fromEnv } from '../../../node/daemon/config-sources.ts'
import { addContent, Harness, originKey, randomContent, until } from '../utils/harness.ts'

/** A public key as `--trusted-origin` takes it (base64 protobuf). */
const b64 = (key: { publicKey: Parameters<typeof publicKeyToProtobuf>[0] }): string =>
  Buffer.from(publicKeyToProtobuf(key.publicKey)).toString('base64')
const TRUSTED = 'CAESIDR5jvBh1tbkqxn6zAqRk6mP3nWRWe+h4Lsf3kdQV0eo'

describe('node daemon CLI', () => {
  const h = new Harness()
  afterEach(async () => await h.teardown())

  it('layers file < env < flags, rejects unknown keys and freezes the result', () => {
    const config = resolveConfig(
      { data: '/a', campus: 'file', city: 'lyon', trustedOrigins: [TRUSTED] },
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
    const a = { data: '/a', trustedOrigins: [TRUSTED] }
    expect(resolveConfig(a).directIo).toBe(true)
    expect(resolveConfig(a, fromEnv({ DANDELION_DIRECT_IO: 'false' })).directIo).toBe(false)
  })

  it('requires a trusted origin key unless trusting any origin is asked for explicitly', () => {
    // every way of setting it is named in the error
    let refused: unknown
    try {
      resolveConfig({ data: '/a' })
    } catch (err) {
      refused = err
    }
    expect(refused).toMatchObject({ name: 'NoTrustedOriginError', code: 'ERR_INVALID_CONFIG' })
    for (const where of [
      '--trusted-origin',
      'DANDELION_TRUSTED_ORIGINS',
      '"trustedOrigins"',
      '--trust-any-origin',
    ])
      expect((refused as Error).message).toContain(where)
    expect(() => resolveConfig({ data: '/a', trustedOrigins: [] })).toThrow(/trusted origin/)
    expect(
      resolveConfig({ data: '/a' }, fromEnv({ DANDELION_TRUSTED_ORIGINS: `${TRUSTED}, ` })).trustedOrigins,
    ).toEqual([TRUSTED])
    expect(resolveConfig({ data: '/a' }, fromEnv({ DANDELION_TRUST_ANY_ORIGIN: '1' })).trustAnyOrigin).toBe(
      true,
    )
    expect(resolveConfig({ data: '/a', trustAnyOrigin: true }).trustedOrigins).toEqual([])
    // both would leave it unclear which one the operator meant
    expect(() => resolveConfig({ data: '/a', trustedOrigins: [TRUSTED], trustAnyOrigin: true })).toThrow(
      /both set/,
    )
  })

  it('refuses to start without a trusted origin, starts with one (key or PeerId), and with the loudly logged opt-out', async () => {
    const start = async (argv: string[], env: NodeJS.ProcessEnv = {}) => {
      const lines: string[] = []
      const warnings: string[] = []
      const stop = new AbortController()
      const daemon = runNodeCommand(
        ['--listen', '/ip4/127.0.0.1/tcp/0', '--playback-port', '0', '--no-dht', ...argv],
        {
          env: { DANDELION_DATA: await h.tempDir(), ...env },
          stdout: (l) => {
            lines.push(l)
            // a daemon that starts is stopped at once: the test only asks whether it starts
            if (l.includes('"ready"')) stop.abort()
          },
          stderr: (l) => warnings.push(l),
          signal: stop.signal,
        },
      )
      await daemon
      return { ready: lines.find((l) => l.includes('"ready"')), warnings }
    }
    await expect(start([])).rejects.toMatchObject({
      name: 'NoTrustedOriginError',
      code: 'ERR_INVALID_CONFIG',
      message: expect.stringContaining('--trusted-origin'),
    })
    await expect(start(['--trusted-origin', 'not-a-key'])).rejects.toMatchObject({
      name: 'InvalidConfigError',
      message: expect.stringContaining('not-a-key'),
    })

    const key = await originKey()
    const trusted = await start(['--trusted-origin', b64(key)])
    expect(trusted.ready).toBeDefined()
    expect(trusted.ready).not.toContain('trustAnyOrigin')
    expect(trusted.warnings).toEqual([])
    // the origin's banner prints its key as a PeerId: that is accepted as it is
    const byPeerId = await start([], {
      DANDELION_TRUSTED_ORIGINS: peerIdFromPublicKey(key.publicKey).toString(),
    })
    expect(byPeerId.ready).toBeDefined()

    const any = await start(['--trust-any-origin'])
    expect(JSON.parse(any.ready!)).toMatchObject({ trustAnyOrigin: true })
    expect(any.warnings.join('\n')).toMatch(/WARNING: --trust-any-origin.*ANY key/)
  })

  it('keeps its identity across restarts on the same data directory', async () => {
    /** Starts a daemon on `data`, stops it once ready, and returns the PeerId it announced. */
    const peerIdOf = async (data: string): Promise<string> => {
      let ready: { peerId: string } | undefined
      const stop = new AbortController()
      await runNodeCommand(
        ['--listen', '/ip4/127.0.0.1/tcp/0', '--playback-port', '0', '--no-dht', '--trust-any-origin'],
        {
          env: { DANDELION_DATA: data },
          stdout: (l) => {
            if (!l.includes('"ready"')) return
            ready = JSON.parse(l) as { peerId: string }
            stop.abort()
          },
          stderr: () => {},
          signal: stop.signal,
        },
      )
      expect(ready).toBeDefined()
      return ready!.peerId
    }
    const data = await h.tempDir()
    const first = await peerIdOf(data)
    // peers, trackers and ban lists know the node by this id: a restart must not change it
    expect(await peerIdOf(data)).toBe(first)
    // it comes from the data directory, not from anything every node shares
    expect(await peerIdOf(await h.tempDir())).not.toBe(first)
    expect((await readFile(join(data, 'peer.key'))).byteLength).toBeGreaterThan(0)
  })

  it('runs a daemon from env and flags, places content with `fetch`, changes its rates with `limits`, and stops gracefully', async () => {
    const key = await originKey()
    const bytes = randomContent(1024 * 1024)
    const seeder = await h.spawn()
    const manifest = await addContent(seeder.store, bytes, key)
    await seeder.seed(manifest)
    // validly signed, but by a key the daemon was not told to trust
    const forged = await addContent(seeder.store, randomContent(1024), await originKey())
    await seeder.seed(forged)

    const lines: string[] = []
    const stop = new AbortController()
    const dataDir = await h.tempDir()
    const daemon = runNodeCommand(
      ['--listen', '/ip4/127.0.0.1/tcp/0', '--playback-port', '0', '--no-dht', '--campus', 'north'],
      {
        env: {
          DANDELION_DATA: dataDir,
          DANDELION_BOOTSTRAP: seeder.multiaddrs[0].toString(),
          DANDELION_TRUSTED_ORIGINS: b64(key),
        },
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
    // a manifest signed by anyone else is not fetched
    const fetchForged = runFetchCommand(
      [forged.cid.toString(), '--node', ready.api, '--data', dataDir, '--start-timeout', '2'],
      { stdout: () => {}, env: {} },
    )
    // (the seeder offers it: only the signer stands in the way)
    await expect(fetchForged).rejects.toMatchObject({ name: 'FetchNotStartedError' })

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

  it("`fetch` fails clearly when the download cannot start or cannot fit the node's quota", async () => {
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
      [
        '--listen',
        '/ip4/127.0.0.1/tcp/0',
        '--playback-port',
        '0',
        '--no-dht',
        '--role',
        'device',
        '--trusted-origin',
        b64(key),
      ],
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
      message: expect.stringContaining("more than this node's whole quota"),
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
