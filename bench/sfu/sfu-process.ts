/**
 * The SFU under test, in its own process so its CPU (main thread and shard workers) is measured
 * alone. Driven over IPC by `bench/sfu.ts`.
 */

import { DEFAULT_LIMITS } from '../../rtc/room/reducer.ts'
import type { ForwardMode } from '../../rtc/sfu/forwarder.ts'
import { WeriftSfu } from '../../rtc/sfu/sfu.ts'
import { createSignalingServer } from '../../rtc/signaling/server.ts'

const [secret, shards, mode, joins] = process.argv.slice(2)
const sfu = new WeriftSfu(
  {},
  {
    loopback: true,
    shards: Number(shards),
    mode: mode as ForwardMode,
    maxConcurrentJoins: joins === undefined ? undefined : Number(joins),
  },
)
// classes above the product's 200 only so the benchmark can look for the SFU's ceiling
const limits = { ...DEFAULT_LIMITS, maxStudents: { ...DEFAULT_LIMITS.maxStudents, class: 1000 } }
const server = await createSignalingServer({ provider: sfu }, { secret, graceMs: 60_000, limits })

process.on('message', async (m: { op: string }) => {
  if (m.op === 'stats') {
    const cpu = process.cpuUsage()
    process.send!({
      op: 'stats',
      stats: await sfu.stats(),
      cpuUs: cpu.user + cpu.system,
      at: performance.now(),
    })
  } else if (m.op === 'close') {
    await server.close()
    process.exit(0)
  }
})
process.on('disconnect', () => process.exit(0))
process.send!({ op: 'ready', url: server.url.replace('http', 'ws') + '/ws' })
