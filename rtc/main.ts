/** Process entry of the rtc command: `node rtc/main.ts rtc [options]` (started by `dandelion rtc`). */
import { runCommand } from '../node/cli-main.ts'
import { runRtcCommand } from './cli.ts'

const [name = '', ...argv] = process.argv.slice(2)
// the command resolves when the service stops (SIGINT / SIGTERM)
await runCommand({ rtc: runRtcCommand }, name, argv)
