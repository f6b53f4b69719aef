/** Starts a real origin (from `origin/`) with its seeder for swarm tests. */
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createOrigin, type Origin, type PublishedVersion } from '../../../origin/index.ts'
import { attachSeeder, type Seeder, type SeederInit } from '../../../origin/seeder.ts'
import { type Harness, TEST_CHUNK_SIZE } from './harness.ts'

/** An origin, its seeder, and a helper to publish bytes. */
export interface TestOrigin {
  origin: Origin
  seeder: Seeder
  publish(bytes: Uint8Array, name?: string): Promise<PublishedVersion>
  close(): Promise<void>
}

/** Starts an origin on loopback with a seeder node. */
export async function startOrigin(h: Harness, init: SeederInit = {}): Promise<TestOrigin> {
  const dir = await h.tempDir()
  const origin = await createOrigin({
    dataDir: dir,
    token: 'test',
    port: 0,
    chunkSize: TEST_CHUNK_SIZE,
    hashWorkers: 1,
  })
  const seeder = await attachSeeder(origin, { dht: false, ...init })
  let n = 0
  let closed = false
  return {
    origin,
    seeder,
    async publish(bytes, name = 'lesson') {
      const path = join(dir, `upload-${n++}.bin`)
      await writeFile(path, bytes)
      return await origin.ingestFile(path, { name, type: 'video', mime: 'video/mp4' })
    },
    async close() {
      if (closed) return
      closed = true
      await seeder.stop()
      await origin.close()
    },
  }
}
