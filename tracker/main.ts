/** Process entry of the tracker's commands: `node tracker/main.ts tracker|release|enroll-token|operator|backup|nodes|versions [options]`. */
import { holdStopSignals, runCommand } from '../node/cli-main.ts'

const [name = '', ...argv] = process.argv.slice(2)
// the daemon's stop signals before its modules load (a SIGTERM found no handler while they
// did), held until the process is gone; a second Ctrl-C still ends it at once; `release`
// keeps Node's defaults
const stop = name === 'tracker' ? holdStopSignals({ secondSigintExits: true }) : undefined
const {
  runBackupCommand,
  runEnrollTokenCommand,
  runNodesCommand,
  runOperatorCommand,
  runReleaseCommand,
  runTrackerCommand,
  runVersionsCommand,
} = await import('./cli.ts')
await runCommand(
  {
    // the daemon's command resolves when it has stopped
    tracker: async (args) => await runTrackerCommand(args, { signal: stop }),
    release: runReleaseCommand,
    'enroll-token': runEnrollTokenCommand,
    operator: runOperatorCommand,
    backup: runBackupCommand,
    nodes: runNodesCommand,
    versions: runVersionsCommand,
  },
  name,
  argv,
)
// the daemon exits with the handlers installed: left to end by itself, Node closes its
// signal watchers before the process is gone, and a SIGTERM landing then (a service
// manager's, with the copy `dandelion tracker` passes on) killed the stopped tracker, 143
if (stop !== undefined) process.exit()
