/**
 * Process entry of the node daemon: `node node/main.ts node [options]`, started by
 * `dandelion node` with the daemon's Node flags and environment (`SERVICE_NODE_FLAGS.node`,
 * `SERVICE_ENV.node` in `cli-main.ts`), like the origin's and tracker's processes.
 */
import { holdStopSignals, runCommand } from './cli-main.ts'

const [name = '', ...argv] = process.argv.slice(2)
// The stop signals are held before the daemon's modules load and until the process is gone
// (`holdStopSignals`): a service manager stopping the unit signals every process of it
// (systemd's default KillMode=control-group, `kill -- -PGID`) and `dandelion node` passes
// its own SIGTERM on too, and a copy that found no handler killed the daemon (exit 143:
// players cut, the unit marked failed). A stop that hangs ends with SIGKILL (systemd's
// TimeoutStopSec) or a second Ctrl-C (status 130).
const signalled = holdStopSignals({ secondSigintExits: true })
const stop = new AbortController()
signalled.addEventListener('abort', () => stop.abort(), { once: true })
// `dandelion node` keeps an IPC channel open to us only so that we notice when it is gone:
// a parent killed with SIGKILL (which it cannot pass on) must not leave the daemon running.
if (process.channel !== undefined) {
  process.channel.unref()
  process.once('disconnect', () => stop.abort())
}
const { runNodeCommand } = await import('./daemon/cli.ts')
await runCommand({ node: async (args) => await runNodeCommand(args, { signal: stop.signal }) }, name, argv)
// exit with the handlers installed: left to end by itself, Node closes its signal watchers
// before the process is gone, and a SIGTERM landing then killed the stopped daemon, exit 143
process.exit()
