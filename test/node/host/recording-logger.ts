/** A logger for tests that keeps what is logged as errors (where warnings go). */
import { format } from 'node:util'
import type { Logger } from '@libp2p/interface'

/** A logger that keeps the messages logged with `error`, formatted, in `errors`. */
export function recordingLogger(): { logger: Logger; errors: string[] } {
  const errors: string[] = []
  const logger: Logger = Object.assign(() => {}, {
    error: (formatter: string, ...args: unknown[]) => {
      errors.push(format(formatter, ...args))
    },
    trace: () => {},
    enabled: true,
    newScope: () => logger,
  })
  return { logger, errors }
}
