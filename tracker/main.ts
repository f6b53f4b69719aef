/** Process entry of the tracker's commands: `node tracker/main.ts tracker|release [options]`. */
import { runCommand } from '../node/cli-main.ts'
import { runReleaseCommand, runTrackerCommand } from './cli.ts'

const [name = '', ...argv] = process.argv.slice(2)
await runCommand({ tracker: runTrackerCommand, release: runReleaseCommand }, name, argv)
