/** Process entry of the origin's commands: `node origin/main.ts origin|upload|swarm-demo [options]`. */
import { runCommand } from '../node/cli-main.ts'
import { runOriginCommand, runUploadCommand } from './cli.ts'
import { runDemoCommand } from './demo.ts'

const [name = '', ...argv] = process.argv.slice(2)
await runCommand(
  { origin: runOriginCommand, upload: runUploadCommand, 'swarm-demo': runDemoCommand },
  name,
  argv,
)
