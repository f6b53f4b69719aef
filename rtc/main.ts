/** Process entry of the rtc command: `node rtc/main.ts rtc [options]`. */
import { runCommand } from '../node/cli-main.ts'
import { runRtcCommand } from './cli.ts'

const [name = '', ...argv] = process.argv.slice(2)
await runCommand({ rtc: runRtcCommand }, name, argv)
