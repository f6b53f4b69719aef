/**
 * Every list setting of `dandelion node` takes its flag more than once, as its help says:
 * a repeated flag that kept only its last value dropped the others without a word.
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { afterEach, describe, expect, it } from 'vitest'
import { runNodeCommand } from '../../../node/daemon/cli.ts'
import { createTracker } from '../../../tracker/index.ts'
import { LOCAL_FLAGS, TRUSTED_ORIGIN } from '../utils/cli.ts'
import { Harness, until } from '../utils/harness.ts'

const ADMIN = 'admin-token-repeated-flags'
const ENROLL = 'enroll-token-repeated-flags'

describe('node daemon: repeated list flags', () => {
  const h = new Harness()
  const closers: Array<() => Promise<unknown>> = []
  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close().catch(() => {})
    await h.teardown()
  })

  it('obeys every --tracker-id given, not only the last one', { timeout: 30_000 }, async () => {
    const tracker = await createTracker({
      dataDir: await h.tempDir(),
      adminToken: ADMIN,
      enrollmentToken: ENROLL,
      port: 0,
    })
    closers.push(() => tracker.close())
    const admin = async (path: string, body: unknown): Promise<void> => {
      const res = await fetch(`${tracker.url}/api/v1${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      })
      expect(res.ok).toBe(true)
    }
    await admin('/cities', { id: 'bj', name: 'Beijing' })
    await admin('/campuses', { id: 'bj-1', city: 'bj', name: 'No. 1 School' })
    // the key of a standby tracker, listed after the main one's
    const standby = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()

    const lines: string[] = []
    const stop = new AbortController()
    const done = runNodeCommand(
      [
        ...LOCAL_FLAGS,
        '--trusted-origin',
        TRUSTED_ORIGIN,
        '--campus',
        'bj-1',
        '--tracker',
        tracker.channelUrl,
        '--tracker-id',
        tracker.trackerId,
        '--tracker-id',
        standby,
        '--enroll-token',
        ENROLL,
      ],
      {
        env: { DANDELION_DATA: await h.tempDir() },
        stdout: (l) => lines.push(l),
        stderr: () => {},
        signal: stop.signal,
      },
    )
    closers.push(async () => {
      stop.abort()
      await done
    })
    // until now only the standby's key was kept: the main tracker was refused as untrusted
    await until(() => lines.some((l) => /"event":"tracker(-refused)?"/.test(l)), 20_000)
    expect(lines.filter((l) => l.includes('"tracker-refused"'))).toEqual([])
    expect(lines.some((l) => l.includes('"event":"tracker"'))).toBe(true)
  })
})
