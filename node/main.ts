/**
 * Process entry of the node daemon: `node node/main.ts node [options]`, started by
 * `dandelion node` with the daemon's Node flags and environment (`SERVICE_NODE_FLAGS.node`,
 * `SERVICE_ENV.node` in `cli-main.ts`), like the origin's and tracker's processes.
 */
import { runCommand } from './cli-main.ts'
import { runNodeCommand } from './daemon/cli.ts'

const [name = '', ...argv] = process.argv.slice(2)
const stop = new AbortController()
process.once('SIGTERM', () => stop.abort())
process.once('SIGINT', () => stop.abort())
// `dandelion node` keeps an IPC channel open to us only so that we notice when it is gone:
// a parent killed with SIGKILL (which it cannot pass on) must not leave the daemon running.
if (process.channel !== undefined) {
  process.channel.unref()
  process.once('disconnect', () => stop.abort())
}
await runCommand({ node: async (args) => await runNodeCommand(args, { signal: stop.signal }) }, name, argv)
