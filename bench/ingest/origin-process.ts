/** An origin in its own process, so the benchmark can sample its RSS. Prints `{ url }` on stdout. */
import { createOrigin } from '../../origin/index.ts'

const [dataDir, token] = process.argv.slice(2)
const origin = await createOrigin({ dataDir, token, port: 0, minFreeDiskBytes: 0 })
process.stdout.write(`${JSON.stringify({ url: origin.url, pid: process.pid })}\n`)
process.on('SIGTERM', () => {
  origin.close().then(() => process.exit(0))
})
