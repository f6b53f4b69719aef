#!/usr/bin/env node
/**
 * The `dandelion` command: one entry point for every service and tool.
 * Each sub-command lives with its service; this file only dispatches.
 */

interface Command {
  summary: string
  load(): Promise<(argv: string[]) => Promise<unknown>>
}

const COMMANDS: Record<string, Command> = {
  origin: {
    summary: 'run the origin (tus uploads, chunking, signed manifests, HTTP fallback)',
    load: async () => (await import('../origin/cli.ts')).runOriginCommand,
  },
  upload: {
    summary: 'upload a file to an origin (resumable)',
    load: async () => (await import('../origin/cli.ts')).runUploadCommand,
  },
  rtc: {
    summary: 'run the live-tutoring signaling server and SFU',
    load: async () => (await import('../rtc/cli.ts')).runRtcCommand,
  },
  tracker: {
    summary: 'run the tracker (inventory, rollouts, command channel, admin API)',
    load: async () => (await import('../tracker/cli.ts')).runTrackerCommand,
  },
  release: {
    summary: 'create and steer releases: create | status | pause | resume | advance | rollback',
    load: async () => (await import('../tracker/cli.ts')).runReleaseCommand,
  },
}

function help(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length))
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`)
  return `Usage: dandelion <command> [options]\n\nCommands:\n${lines.join('\n')}\n\nRun "dandelion <command> --help" for a command's options.\n`
}

const [name, ...rest] = process.argv.slice(2)
if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
  process.stdout.write(help())
  process.exit(0)
}
const command = COMMANDS[name]
if (command === undefined) {
  process.stderr.write(`dandelion: unknown command "${name}"\n\n${help()}`)
  process.exit(2)
}
try {
  const run = await command.load()
  const code = await run(rest)
  // long-running commands resolve when they stop; a short command may resolve with an exit code
  if (typeof code === 'number' && code !== 0) process.exitCode = code
} catch (err) {
  const e = err as Error & { code?: string }
  const usage = e.code === 'ERR_INVALID_CONFIG' || e.code?.startsWith('ERR_PARSE_ARGS') === true
  process.stderr.write(`dandelion ${name}: ${e.message}\n`)
  if (process.env.DEBUG !== undefined && e.stack !== undefined) process.stderr.write(`${e.stack}\n`)
  process.exit(usage ? 2 : 1)
}
