/**
 * `dandelion origin` stopped as a service manager or a terminal stops it (see
 * `test/node/utils/stop-rounds.ts`). The origin used to take the first signal, stop, and then
 * be killed by a later one landing while Node tore the process down (its signal watchers
 * closed first, SIGTERM back to the default action): exit 143, the unit marked failed.
 */
import type { ChildProcess } from 'node:child_process'
import { afterEach, describe } from 'vitest'
import { killGroups } from '../node/utils/cli.ts'
import { SIGTERM_ROUNDS, stopRounds } from '../node/utils/stop-rounds.ts'
import { Fixture } from './utils.ts'

const fx = new Fixture()
const children: ChildProcess[] = []
afterEach(async () => {
  killGroups(children)
  await fx.cleanup()
})

describe('dandelion origin stopped by signals to its process group', () => {
  stopRounds(
    {
      start: async () => {
        const data = await fx.dir()
        const flags = ['--port', '0', '--token', 't'.repeat(24), '--no-seed', '--min-free-disk-bytes', '0']
        return { args: ['origin', '--data', data, ...flags] }
      },
      ready: /^Upload a lesson:/m,
      stopping: /stopping origin…/,
      children,
    },
    [
      ...SIGTERM_ROUNDS,
      // the origin ignores every SIGINT after the first
      { name: 'Ctrl-C pressed twice (SIGINT to the group)', signal: 'SIGINT', to: 'group', times: 2 },
      {
        name: 'SIGINTs to the group every millisecond until it is gone',
        signal: 'SIGINT',
        to: 'group',
        times: 'storm',
      },
    ],
  )
})
