/** Process entry of the origin's commands: `node origin/main.ts origin|upload|remove-version|swarm-demo [options]`. */
import { holdStopSignals, runCommand } from '../node/cli-main.ts'

// The reader of stdout may go before the origin does (`dandelion origin | head -1`, a
// supervisor that closes the pipe): a write then fails with EPIPE, emitted as an 'error'
// event that, unheard, crashed the origin as it stopped ("stopping origin…"), exit 1 and a
// stack instead of a clean stop. What stdout says has nobody left to read it: it is dropped.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE' || err.code === 'ERR_STREAM_DESTROYED') return
  throw err
})

const [name = '', ...argv] = process.argv.slice(2)
// the daemon's stop signals before its modules load (a SIGTERM found no handler while they
// did), held until the process is gone; `upload` and `swarm-demo` keep Node's defaults
const stop = name === 'origin' ? holdStopSignals() : undefined
const { runOriginCommand } = await import('./cli.ts')
const { runUploadCommand } = await import('./cli-upload.ts')
const { runRemoveVersionCommand } = await import('./cli-remove.ts')
const { runDemoCommand } = await import('./demo.ts')
await runCommand(
  {
    origin: async (args) => await runOriginCommand(args, { signal: stop }),
    upload: runUploadCommand,
    'remove-version': runRemoveVersionCommand,
    'swarm-demo': runDemoCommand,
  },
  name,
  argv,
)
// the daemon exits with the handlers installed: left to end by itself, Node closes its
// signal watchers before the process is gone, and a SIGTERM landing then (a service
// manager's, with the copy `dandelion origin` passes on) killed the stopped origin, exit 143
if (stop !== undefined) process.exit()
