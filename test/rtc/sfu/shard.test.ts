import type { Worker } from 'node:worker_threads'
import { describe, expect, it } from 'vitest'
import { ShardCrashedError } from '../../../rtc/errors.ts'
import { WorkerShard } from '../../../rtc/sfu/shard.ts'

describe('worker shard', () => {
  it('fails calls to a worker that died instead of hanging, and still closes', async () => {
    const shard = new WorkerShard({ offer() {}, keyframe() {} }, { loopback: true })
    expect((await shard.stats()).subscribers).toBe(0)
    await (shard as unknown as { worker: Worker }).worker.terminate()
    await expect(shard.stats()).rejects.toBeInstanceOf(ShardCrashedError)
    await expect(shard.subscribe('r', 'u')).rejects.toMatchObject({ code: ShardCrashedError.code })
    shard.rtp('r/t/video/0', Buffer.alloc(12), 0)
    await shard.close()
  }, 10_000)
})
