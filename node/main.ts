/**
 * Process entry of the node daemon: `node node/main.ts node [options]`, started by
 * `dandelion node` with the daemon's Node flags and environment (`SERVICE_NODE_FLAGS.node`,
 * `SERVICE_ENV.node` in `cli-main.ts`), like the origin's and tracker's processes.
 */
import { runCommand } from './cli-main.ts'
import { runNodeCommand } from './daemon/cli.ts'

const [name = '', ...argv] = process.argv.slice(2)
const stop = new AbortController()
// SIGTERM with `on`, not `once`: a service manager stopping the unit signals every process
// of it (systemd's default KillMode=control-group, `kill -- -PGID`) and `dandelion node`
// passes its own SIGTERM on too. The second one found no handler left and killed the daemon
// midway through its graceful stop (exit 143: players cut, the unit marked failed). A stop
// that hangs ends with SIGKILL (systemd's TimeoutStopSec) or a second Ctrl-C (SIGINT, once).
process.on('SIGTERM', () => stop.abort())
process.once('SIGINT', () => stop.abort())
// `dandelion node` keeps an IPC channel open to us only so that we notice when it is gone:
// a parent killed with SIGKILL (which it cannot pass on) must not leave the daemon running.
if (process.channel !== undefined) {
  process.channel.unref()
  process.once('disconnect', () => stop.abort())
}
await runCommand({ node: async (args) => await runNodeCommand(args, { signal: stop.signal }) }, name, argv)
