/** Process entry of the rtc command: `node rtc/main.ts rtc [options]` (started by `dandelion rtc`). */
import { holdStopSignals, runCommand } from '../node/cli-main.ts'

// a reader of stdout gone before the server (`dandelion rtc | head -1`, a supervisor that
// closed the pipe) fails the stop line's write with EPIPE: nobody is left to read it, so it
// is dropped instead of crashing the stop, as the origin does
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE' || err.code === 'ERR_STREAM_DESTROYED') return
  throw err
})

const [name = '', ...argv] = process.argv.slice(2)
// the stop signals before the server's modules load (a SIGTERM found no handler while they
// did), held until the process is gone; a second Ctrl-C still ends it at once
const stop = name === 'rtc' ? holdStopSignals({ secondSigintExits: true }) : undefined
const { runRtcCommand } = await import('./cli.ts')
// the command resolves when the server has stopped
await runCommand({ rtc: async (args) => await runRtcCommand(args, { signal: stop }) }, name, argv)
// exit with the handlers installed: left to end by itself, Node closes its signal watchers
// before the process is gone, and a SIGTERM landing then (a service manager's, with the
// copy `dandelion rtc` passes on) killed the stopped server, exit 143
process.exit()
