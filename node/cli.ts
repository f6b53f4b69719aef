#!/usr/bin/env node
/**
 * The `dandelion` command. Short node commands (`fetch`, `demo`) run in this process; the
 * node daemon, the origin, the tracker and rtc run as their own process
 * (`<service>/main.ts`), started with this Node, their own Node flags and environment,
 * and sharing this terminal, so `node/` never imports another service (a lamp embedding
 * the library must not pull servers in) and each daemon is the process it would be in
 * production.
 */
import { type StdioOptions, spawn } from 'node:child_process'
import { constants } from 'node:os'
import { fileURLToPath } from 'node:url'
import { type CommandFn, runCommand, SERVICE_ENV, SERVICE_NODE_FLAGS } from './cli-main.ts'

interface Command {
  summary: string
  /** A node command, run in this process. */
  local?: () => Promise<CommandFn>
  /** A daemon's command: the folder whose `main.ts` runs it in its own process. */
  service?: 'node' | 'origin' | 'tracker' | 'rtc'
}

const COMMANDS: Record<string, Command> = {
  demo: {
    summary:
      'npm start: tracker, origin, nodes in two cities and a device; a staged release of a sample lesson',
    local: async () => (await import('./daemon/walkthrough.ts')).runWalkthroughCommand,
  },
  'swarm-demo': {
    summary: 'origin + campus nodes + a device in one process, replicating a sample lesson peer to peer',
    service: 'origin',
  },
  node: {
    summary: 'run a campus node or device daemon (swarm, local playback server)',
    service: 'node',
  },
  fetch: {
    summary: 'place content on a running node by manifest CID',
    local: async () => (await import('./daemon/api-commands.ts')).runFetchCommand,
  },
  limits: {
    summary: "change a running node's upload, download and origin rates",
    local: async () => (await import('./daemon/api-commands.ts')).runLimitsCommand,
  },
  origin: {
    summary: 'run the origin (tus uploads, chunking, signed manifests, HTTP fallback)',
    service: 'origin',
  },
  upload: { summary: 'upload a file to an origin (resumable)', service: 'origin' },
  tracker: {
    summary: 'run the tracker (inventory, rollouts, command channel, admin API)',
    service: 'tracker',
  },
  release: {
    summary:
      'create and steer releases: create | list | status | pause | resume | advance | abort | rollback',
    service: 'tracker',
  },
  rtc: { summary: 'run the live-tutoring signaling server and SFU', service: 'rtc' },
}

function help(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length))
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`)
  return `Usage: dandelion <command> [options]\n\nCommands:\n${lines.join('\n')}\n\nRun "dandelion <command> --help" for a command's options.\n`
}

/** Runs `<service>/main.ts name ...argv` in a child process, forwarding signals and the exit status. */
async function runService(service: string, name: string, argv: string[]): Promise<void> {
  const main = fileURLToPath(new URL(`../${service}/main.ts`, import.meta.url))
  const flags = SERVICE_NODE_FLAGS[service] ?? []
  const env = { ...process.env, ...SERVICE_ENV[service] }
  // the node daemon also gets an IPC channel, only so that it stops if this process is killed
  const stdio: StdioOptions = service === 'node' ? ['inherit', 'inherit', 'inherit', 'ipc'] : 'inherit'
  const child = spawn(process.execPath, [...flags, main, name, ...argv], { stdio, env })
  // Ctrl-C reaches the whole foreground process group, the service included: this process
  // only waits for it to stop (forwarding would deliver SIGINT twice). SIGTERM, as sent by
  // a service manager to this process alone, is passed on.
  // A SIGINT sent to this process alone (`kill -INT`, `docker stop` with STOPSIGNAL
  // SIGINT) reached no daemon until session 14: the node daemon's is passed on as SIGTERM,
  // which it handles apart from SIGINT, so Ctrl-C still stops it once and a second Ctrl-C
  // still ends it at once. Not for the other services: their handlers would run twice.
  process.on('SIGINT', () => {
    if (service === 'node') child.kill('SIGTERM')
  })
  process.on('SIGTERM', () => child.kill('SIGTERM'))
  const code = await new Promise<number>((resolve) => {
    child.on('exit', (status, signal) =>
      resolve(status ?? 128 + (signal === null ? 0 : constants.signals[signal])),
    )
  })
  process.exitCode = code
}

const [name, ...rest] = process.argv.slice(2)
if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
  process.stdout.write(help())
} else if (COMMANDS[name] === undefined) {
  process.stderr.write(`dandelion: unknown command "${name}"\n\n${help()}`)
  process.exitCode = 2
} else {
  const command = COMMANDS[name]
  if (command.service !== undefined) await runService(command.service, name, rest)
  else if (command.local !== undefined) await runCommand({ [name]: await command.local() }, name, rest)
}
