/**
 * The origin's retention: homework photos go after their retention period; with
 * `keepVersions`, versions older than a resource's newest N go once the tracker agrees, and
 * what it keeps (in use, or a tracker that cannot be asked) stays until a later sweep.
 * Real origins; a small HTTP stand-in on 127.0.0.1 plays the tracker.
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { afterEach, describe, expect, it } from 'vitest'
import { UploadGrantIssuer } from '../../node/upload-grant.ts'
import { loadOriginConfig } from '../../origin/config.ts'
import type { Origin, PublishedVersion } from '../../origin/index.ts'
import { dueForRemoval } from '../../origin/retention.ts'
import { registerWithTracker } from '../../origin/tracker-registration.ts'
import { until } from '../tracker/harness.ts'
import { json, standIns } from './tracker-stand-in.ts'
import { Fixture, TOKEN, uploadWhole } from './utils.ts'

const fx = new Fixture()
const stands = standIns()
let stopRegistration: (() => void) | undefined
afterEach(async () => {
  stopRegistration?.()
  stopRegistration = undefined
  await stands.closeAll()
  await fx.cleanup()
})

const DAY = 24 * 3600 * 1000
const PHOTO = 'homework-lamp-0c3a9d2b7e41c68a1f0e9d3c2b7a645f'

async function photo(origin: Origin, rtc: UploadGrantIssuer): Promise<void> {
  const grant = rtc.issue({ name: PHOTO, type: 'image', max: 100_000, ttlMs: 60_000 })
  const res = await uploadWhole(
    origin.url,
    grant,
    { name: PHOTO, type: 'image' },
    new Uint8Array(3000).fill(9),
  )
  expect(res.status).toBe(201)
}

async function lesson(origin: Origin, fill: number): Promise<void> {
  const res = await uploadWhole(
    origin.url,
    TOKEN,
    { name: 'lesson', type: 'video' },
    new Uint8Array(5000).fill(fill),
  )
  expect(res.status).toBe(201)
}

const names = (vs: Array<{ version: PublishedVersion }>): string[] =>
  vs.map((x) => `${x.version.name === PHOTO ? 'photo' : x.version.name} v${x.version.version}`)

describe('retention at the origin', () => {
  it('picks private versions past their time and public ones beyond the newest N, oldest first', () => {
    const v = (name: string, version: number, createdAt: number, priv = false): PublishedVersion => ({
      name,
      version,
      manifestCid: `${name}-${version}`,
      size: 1,
      type: 'video',
      mime: 'video/mp4',
      createdAt,
      ...(priv ? { private: true as const } : {}),
    })
    const all = [
      v('a', 1, 0),
      v('a', 2, 0),
      v('a', 3, 0),
      v('b', 1, 0),
      v('p', 1, 0, true),
      v('q', 1, 5 * DAY, true),
    ]
    const due = (keepVersions: number, privateRetentionMs: number) =>
      dueForRemoval(all, { keepVersions, privateRetentionMs }, 10 * DAY).map((x) => `${x.name}${x.version}`)
    expect(due(0, 0)).toEqual([])
    expect(due(0, 7 * DAY)).toEqual(['p1'])
    expect(due(1, 0)).toEqual(['a1', 'a2'])
    expect(due(2, 3 * DAY)).toEqual(['p1', 'q1', 'a1'])
  })

  it('removes a homework photo once its retention is over, and never a public lesson by that rule', async () => {
    const rtc = new UploadGrantIssuer(await generateKeyPair('Ed25519'))
    const origin = await fx.origin({ grantIssuers: [rtc.id] })
    await photo(origin, rtc)
    await lesson(origin, 1)
    // 29 days on: nothing yet
    expect((await origin.sweepRetention(Date.now() + 29 * DAY)).removed).toEqual([])
    const swept = await origin.sweepRetention(Date.now() + 31 * DAY)
    expect(names(swept.removed)).toEqual(['photo v1'])
    expect((await fetch(`${origin.url}/resources/${PHOTO}/versions/1/content`)).status).toBe(404)
    expect((await origin.listVersions()).map((x) => x.name)).toEqual(['lesson'])
  })

  it('keeps photos for ever with a retention of 0, and sweeps by itself on its interval', async () => {
    const rtc = new UploadGrantIssuer(await generateKeyPair('Ed25519'))
    const keeping = await fx.origin({ grantIssuers: [rtc.id], privateRetentionMs: 0 })
    await photo(keeping, rtc)
    expect((await keeping.sweepRetention(Date.now() + 365 * DAY)).removed).toEqual([])

    const sweeping = await fx.origin({ grantIssuers: [rtc.id], privateRetentionMs: 1, retentionSweepMs: 50 })
    await photo(sweeping, rtc)
    await until(async () => (await sweeping.listVersions()).length === 0, 'the photo swept')
  })

  it('keeps the newest N of a resource and removes older ones the tracker lets go; a tracker that cannot be asked keeps them', async () => {
    let inUse = new Set(['2'])
    let down = false
    const received: string[] = []
    const stand = await stands.start((req, res) => {
      if (req.method !== 'DELETE') return json(res, 201, {})
      const version = req.url!.split('/').at(-1)!
      received.push(version)
      if (down) return json(res, 503, { error: { code: 'ERR_UNAVAILABLE', message: 'restarting' } })
      if (inUse.has(version))
        return json(res, 409, {
          error: { code: 'ERR_VERSION_IN_USE', message: `lesson v${version} is in use: 2 nodes run it` },
        })
      json(res, 200, {})
    })
    const rtc = new UploadGrantIssuer(await generateKeyPair('Ed25519'))
    const origin = await fx.origin({ grantIssuers: [rtc.id], keepVersions: 2, privateRetentionMs: 1 })
    stopRegistration = registerWithTracker(origin, {
      trackerUrl: stand.url,
      token: 'admin',
      retryInitialMs: 20,
    })
    for (const fill of [1, 2, 3, 4]) await lesson(origin, fill)

    down = true
    await photo(origin, rtc)
    let swept = await origin.sweepRetention()
    // the photo needs no tracker; the lessons wait for one that answers
    expect(names(swept.removed)).toEqual(['photo v1'])
    expect(swept.kept.map((k) => k.reason)).toEqual([
      expect.stringContaining('cannot ask the tracker'),
      expect.anything(),
    ])
    expect(received).toEqual(['1'])

    down = false
    swept = await origin.sweepRetention()
    expect(names(swept.removed)).toEqual(['lesson v1'])
    expect(names(swept.kept)).toEqual(['lesson v2'])
    expect(swept.kept[0].reason).toContain('2 nodes run it')
    expect((await origin.listVersions()).map((x) => x.version)).toEqual([2, 3, 4])

    // the nodes moved on: the next sweep takes it
    inUse = new Set()
    swept = await origin.sweepRetention()
    expect(names(swept.removed)).toEqual(['lesson v2'])
    expect((await origin.listVersions()).map((x) => x.version)).toEqual([3, 4])
  })

  it('refuses keepVersions without a tracker to ask, and reads both settings from flags', async () => {
    await expect(loadOriginConfig({ keepVersions: '3' }, {})).rejects.toMatchObject({
      code: 'ERR_INVALID_CONFIG',
      message: expect.stringContaining('no tracker is set'),
    })
    const config = await loadOriginConfig(
      {
        privateRetentionDays: '7',
        keepVersions: '3',
        trackerUrl: 'http://127.0.0.1:7070',
        trackerToken: 'admin',
      },
      {},
    )
    expect(config).toMatchObject({ privateRetentionDays: 7, keepVersions: 3 })
    expect(await loadOriginConfig({}, {})).toMatchObject({ privateRetentionDays: 30, keepVersions: 0 })
  })
})
