/**
 * A classroom for homework-photo tests: a real origin on loopback trusting a fresh upload grant
 * issuer, and a signaling server (`../signaling/harness.ts`) signing grants with it.
 */
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { UploadGrantIssuer } from '../../../node/upload-grant.ts'
import { type Harness, spawn } from '../signaling/harness.ts'

// the origin is another service: imported only when this checkout has it
const originIndex = fileURLToPath(new URL('../../../origin/index.ts', import.meta.url))
/** Whether this checkout has the origin: tests needing one are skipped without it. */
export const HAS_ORIGIN = existsSync(originIndex)
export const ORIGIN_TOKEN = 'origin-upload-token'

/** A running origin and the temp dir it keeps its data in. */
export interface TestOrigin {
  url: string
  close(): Promise<void>
}

/** Starts an origin in a fresh temp dir, trusting `grantIssuers`; `close()` removes the dir too. */
export async function startOrigin(grantIssuers: string[] = []): Promise<TestOrigin> {
  const dir = await mkdtemp(join(tmpdir(), 'rtc-photo-'))
  const { createOrigin } = (await import(originIndex)) as typeof import('../../../origin/index.ts')
  const origin = await createOrigin({
    dataDir: dir,
    token: ORIGIN_TOKEN,
    port: 0,
    hashWorkers: 1,
    grantIssuers,
  })
  return {
    url: origin.url,
    async close() {
      await origin.close()
      await rm(dir, { recursive: true, force: true })
    },
  }
}

/** Stand-in for a camera: a JPEG-looking still of `size` bytes; `seed` tells two shots apart. */
export function still(size = 1_500_000, seed = 0): Buffer {
  const b = Buffer.alloc(size)
  for (let i = 0; i < b.length; i++) b[i] = (i * 31 + (i >> 9) + seed * 7) & 0xff
  b.set([0xff, 0xd8, 0xff, 0xe0], 0)
  return b
}

/** An origin trusting a fresh grant issuer, and a signaling server signing with it. */
export async function classroom(photoMaxBytes?: number): Promise<{ h: Harness; origin: TestOrigin }> {
  const grants = new UploadGrantIssuer(await generateKeyPair('Ed25519'))
  const origin = await startOrigin([grants.id])
  try {
    const h = await spawn({ origin: origin.url, photoMaxBytes }, undefined, grants)
    return { h, origin }
  } catch (err) {
    await origin.close()
    throw err
  }
}
