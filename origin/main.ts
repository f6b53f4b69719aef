/** Process entry of the origin's commands: `node origin/main.ts origin|upload|swarm-demo [options]`. */
import { runCommand } from '../node/cli-main.ts'
import { runOriginCommand, runUploadCommand } from './cli.ts'
import { runDemoCommand } from './demo.ts'

// The reader of stdout may go before the origin does (`dandelion origin | head -1`, a
// supervisor that closes the pipe): a write then fails with EPIPE, emitted as an 'error'
// event that, unheard, crashed the origin as it stopped ("stopping origin…"), exit 1 and a
// stack instead of a clean stop. What stdout says has nobody left to read it: it is dropped.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE' || err.code === 'ERR_STREAM_DESTROYED') return
  throw err
})

const [name = '', ...argv] = process.argv.slice(2)
await runCommand(
  { origin: runOriginCommand, upload: runUploadCommand, 'swarm-demo': runDemoCommand },
  name,
  argv,
)
