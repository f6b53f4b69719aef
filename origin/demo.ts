/**
 * `dandelion swarm-demo`: the node library's demo (`node/daemon/demo.ts`) with a real origin
 * and its seeder. It is composed here because the origin may import the node library,
 * never the other way round.
 */
import { parseArgs } from 'node:util'
import { runDemo } from '../node/daemon/demo.ts'
import { createOrigin } from './index.ts'
import { attachSeeder } from './seeder.ts'

const HELP = `Usage: dandelion swarm-demo [--nodes N] [--devices N] [--size-mib N]

Starts an origin, N campus nodes and devices on loopback, uploads a generated sample
lesson and shows it replicating, mostly peer to peer, until every node has it.
`

/** Runs the demo once. */
export async function runDemoCommand(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      nodes: { type: 'string' },
      devices: { type: 'string' },
      'size-mib': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  })
  if (values.help === true) {
    process.stdout.write(HELP)
    return
  }
  await runDemo({
    createOrigin: (init) => createOrigin({ ...init, minFreeDiskBytes: 0 }),
    attachSeeder: (origin, init) => attachSeeder(origin as Parameters<typeof attachSeeder>[0], init),
    nodes: values.nodes === undefined ? undefined : Number(values.nodes),
    devices: values.devices === undefined ? undefined : Number(values.devices),
    fileBytes: values['size-mib'] === undefined ? undefined : Number(values['size-mib']) * 1024 * 1024,
  })
}
