/**
 * A campus node's WebRTC-Direct certificate is kept in its data directory, so its
 * `/certhash/` address survives restarts. When that file cannot be used (a disk error, a
 * hand edit) the node makes a new one, and with it a new address every device must be
 * given: the daemon says so on stderr, where the operator looks, not only in a debug log.
 */
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { runNodeCommand } from '../../../node/daemon/cli.ts'
import { WEBRTC_CERTIFICATE_FILE } from '../../../node/host/webrtc-certificate.ts'
import { LOCAL_FLAGS, TRUSTED_ORIGIN } from '../utils/cli.ts'
import { Harness, until } from '../utils/harness.ts'

describe('node daemon with an unusable WebRTC-Direct certificate', () => {
  const h = new Harness()
  afterEach(async () => await h.teardown())

  it('warns on stderr that the address changed, and starts', async () => {
    const dataDir = await h.tempDir()
    await writeFile(join(dataDir, WEBRTC_CERTIFICATE_FILE), 'not a certificate\n')
    const lines: string[] = []
    const warnings: string[] = []
    const stop = new AbortController()
    const done = runNodeCommand(
      [
        ...LOCAL_FLAGS,
        '--listen',
        '/ip4/127.0.0.1/udp/0/webrtc-direct',
        '--webrtc',
        '--trusted-origin',
        TRUSTED_ORIGIN,
      ],
      {
        env: { DANDELION_DATA: dataDir },
        stdout: (l) => lines.push(l),
        stderr: (l) => warnings.push(l),
        signal: stop.signal,
      },
    )
    try {
      await until(() => lines.some((l) => l.includes('"ready"')), 20_000)
      const warning = warnings.find((w) => w.includes(WEBRTC_CERTIFICATE_FILE))
      expect(warning).toMatch(
        /^WARNING: .* replacing it with a new one, so this node's \/certhash\/ address changes/,
      )
    } finally {
      stop.abort()
      await done
    }
  })
})
