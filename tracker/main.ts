/** Process entry of the tracker's commands: `node tracker/main.ts tracker|release [options]`. */
import { runCommand } from '../node/cli-main.ts'
import { runReleaseCommand, runTrackerCommand } from './cli.ts'

const [name = '', ...argv] = process.argv.slice(2)
await runCommand(
  {
    // a daemon's command resolves when it stops
    tracker: async (args) => {
      const tracker = await runTrackerCommand(args)
      if (tracker !== undefined) await new Promise((resolve) => tracker.app.server.once('close', resolve))
    },
    release: runReleaseCommand,
  },
  name,
  argv,
)
