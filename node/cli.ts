#!/usr/bin/env node
/**
 * The `dandelion` command. Short node commands (`fetch`, `demo`) run in this process; the
 * node daemon, the origin, the tracker and rtc run as their own process
 * (`<service>/main.ts`), started with this Node, their own Node flags and environment,
 * and sharing this terminal, so `node/` never imports another service (a lamp embedding
 * the library must not pull servers in) and each daemon is the process it would be in
 * production.
 */
import { type ChildProcess, type StdioOptions, spawn } from 'node:child_process'
import { constants } from 'node:os'
import { fileURLToPath } from 'node:url'
import {
  type CommandFn,
  runCommand,
  SERVICE_ENV,
  SERVICE_NODE_FLAGS,
  SIGNALS_HELD_FD_ENV,
  SIGNALS_HELD_MESSAGE,
} from './cli-main.ts'

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
  status: {
    summary: "show a running node's peers, origin health, store, rates and each content's progress",
    local: async () => (await import('./daemon/status-command.ts')).runStatusCommand,
  },
  limits: {
    summary: "change a running node's upload, download and origin rates",
    local: async () => (await import('./daemon/api-commands.ts')).runLimitsCommand,
  },
  scrub: {
    summary: "read back and hash everything a running node's store holds now; what rotted is fetched again",
    local: async () => (await import('./daemon/scrub-command.ts')).runScrubCommand,
  },
  origin: {
    summary: 'run the origin (tus uploads, chunking, signed manifests, HTTP fallback)',
    service: 'origin',
  },
  upload: { summary: 'upload a file to an origin (resumable)', service: 'origin' },
  'remove-version': {
    summary: 'remove a version from an origin and delete its chunks (kept while a node uses it)',
    service: 'origin',
  },
  tracker: {
    summary: 'run the tracker (inventory, rollouts, command channel, admin API)',
    service: 'tracker',
  },
  release: {
    summary:
      'create and steer releases: create | list | status | pause | resume | advance | abort | rollback | compact',
    service: 'tracker',
  },
  versions: {
    summary: "a resource's versions at the tracker: list | remove (kept while a node uses it)",
    service: 'tracker',
  },
  'enroll-token': {
    summary: 'issue, list and revoke enrollment tokens for new nodes: create | list | revoke',
    service: 'tracker',
  },
  operator: {
    summary: 'issue, list and revoke operator tokens (each named in the audit trail): create | list | revoke',
    service: 'tracker',
  },
  nodes: {
    summary: "list the tracker's nodes: offline since when, where, what version they run: list [--offline]",
    service: 'tracker',
  },
  backup: {
    summary:
      "back up a running tracker's state and key, list its backups, restore one: create | list | restore",
    service: 'tracker',
  },
  rtc: { summary: 'run the live-tutoring signaling server and SFU', service: 'rtc' },
}

function help(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length))
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`)
  return `Usage: dandelion <command> [options]\n\nCommands:\n${lines.join('\n')}\n\nRun "dandelion <command> --help" for a command's options, "dandelion --version" for this version.\n`
}

/** Runs `<service>/main.ts name ...argv` in a child process, forwarding signals and the exit status. */
async function runService(service: string, name: string, argv: string[]): Promise<void> {
  const main = fileURLToPath(new URL(`../${service}/main.ts`, import.meta.url))
  const flags = SERVICE_NODE_FLAGS[service] ?? []
  // the daemons say when they hold their stop signals (below): the tracker, the origin and
  // rtc on fd 3, the node daemon over the IPC channel it has anyway
  const tellsHeld = name === service
  const heldOnFd = tellsHeld && service !== 'node'
  const env = {
    ...process.env,
    ...SERVICE_ENV[service],
    ...(heldOnFd ? { [SIGNALS_HELD_FD_ENV]: '3' } : {}),
  }
  // the node daemon also gets an IPC channel, only so that it stops if this process is killed
  const stdio: StdioOptions =
    service === 'node'
      ? ['inherit', 'inherit', 'inherit', 'ipc']
      : heldOnFd
        ? ['inherit', 'inherit', 'inherit', 'pipe']
        : 'inherit'
  // A SIGTERM to this process is passed on even when the service got it too: nothing here
  // can tell. The kernel reports a signal sent to the process group like one sent to this
  // process alone, and systemd's KillMode=control-group signals each process of the unit
  // by its PID, whatever its group. So a daemon takes its first stop signal and ignores the
  // copies (`holdStopSignals` in cli-main.ts, from the first line of its process entry until
  // the process is gone).
  // Ctrl-C reaches the whole foreground group, the service included. A SIGINT sent to this
  // process alone (`kill -INT`, `docker stop` with STOPSIGNAL SIGINT) reached no daemon
  // until session 14, then only the node daemon, until session 19 not the tracker: it is
  // passed on to every daemon as SIGTERM, a copy they ignore after Ctrl-C, so that a second
  // Ctrl-C still ends the node daemon, the tracker and rtc at once; other commands
  // (`upload`, `release`, `swarm-demo`) get Ctrl-C from the terminal, as any command does.
  // Installed before the service is spawned: one landing while it is, found none and killed
  // this process.
  const passesSigint = name === service
  let child: ChildProcess | undefined
  process.on('SIGINT', () => {
    if (passesSigint) child?.kill('SIGTERM')
  })
  process.on('SIGTERM', () => child?.kill('SIGTERM'))
  child = spawn(process.execPath, [...flags, main, name, ...argv], { stdio, env })
  let held = false
  if (heldOnFd)
    child.stdio[3]?.once('data', () => {
      held = true
    })
  else if (tellsHeld)
    child.on('message', (m: { t?: string } | null) => (held ||= m?.t === SIGNALS_HELD_MESSAGE))
  const code = await new Promise<number>((resolve) => {
    child.on('exit', (status, signal) => {
      // Killed by a stop signal before it held them, while Node was still starting it: the
      // daemon was stopped before any of its code ran, a clean stop rather than a failure
      // (143), whoever sent it (this process may handle its own copy of a group's signal
      // only after the child's exit).
      const stoppedUnstarted = tellsHeld && !held && (signal === 'SIGTERM' || signal === 'SIGINT')
      resolve(stoppedUnstarted ? 0 : (status ?? 128 + (signal === null ? 0 : constants.signals[signal])))
    })
  })
  // exit with the handlers installed: left to end by itself, Node closes its signal watchers
  // before this process is gone, and a SIGTERM landing then (a service manager's second
  // one, a group's storm) killed it after the service had stopped cleanly, exit 143
  process.exit(code)
}

const [name, ...rest] = process.argv.slice(2)
if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
  process.stdout.write(help())
} else if (name === '--version' || name === '-V' || name === 'version') {
  // what an operator reports with a problem: this checkout's version and the Node it runs on
  const { DANDELION_VERSION } = await import('./version.ts')
  process.stdout.write(`dandelion ${DANDELION_VERSION} (node ${process.versions.node})\n`)
} else if (COMMANDS[name] === undefined) {
  process.stderr.write(`dandelion: unknown command "${name}"\n\n${help()}`)
  process.exitCode = 2
} else {
  const command = COMMANDS[name]
  if (command.service !== undefined) await runService(command.service, name, rest)
  else if (command.local !== undefined) await runCommand({ [name]: await command.local() }, name, rest)
}
