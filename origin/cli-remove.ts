/**
 * `dandelion remove-version NAME VERSION`: removes a version from an origin to get its disk
 * back. The origin asks its tracker first and keeps a version a node still uses; what it
 * says is printed as it is.
 */
import { parseArgs } from 'node:util'
import { envValue } from '../node/dandelion-env.ts'
import { DandelionError, InvalidConfigError } from '../node/errors.ts'
import type { RemovedVersion } from './version-removal.ts'

const REMOVE_HELP = `Usage: dandelion remove-version NAME VERSION --origin URL [--token TOKEN] [--json]

Removes version VERSION of resource NAME from the origin and deletes its chunks that no
other version or unfinished upload holds. An origin with a tracker asks it first: a
version a node still runs, a release carries or could roll back to is kept (exit 1).
Version numbers are never reused.

Options:
  --origin URL        origin base URL          DANDELION_ORIGIN_URL
  --token TOKEN       the origin's upload token DANDELION_TOKEN
  --json              print the origin's answer as JSON
  -h, --help          this help
`

/** A request to the origin failed; the message is the origin's own, or why it could not be reached. */
export class RemoveVersionError extends DandelionError {
  override name = 'RemoveVersionError'
}

const MIB = 1024 * 1024

/** `dandelion remove-version`. */
export async function runRemoveVersionCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      origin: { type: 'string' },
      token: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  })
  if (values.help === true) {
    process.stdout.write(REMOVE_HELP)
    return
  }
  const origin = (values.origin ?? envValue(process.env, 'DANDELION_ORIGIN_URL'))?.replace(/\/$/, '')
  const token = values.token ?? envValue(process.env, 'DANDELION_TOKEN')
  const [name, versionText, ...extra] = positionals
  if (name === undefined || versionText === undefined || extra.length > 0)
    throw new InvalidConfigError('give NAME and VERSION; see dandelion remove-version --help')
  const version = Number(versionText)
  if (!Number.isSafeInteger(version) || version < 1)
    throw new InvalidConfigError(`VERSION must be a whole number from 1, not ${JSON.stringify(versionText)}`)
  if (origin === undefined)
    throw new InvalidConfigError('missing --origin; see dandelion remove-version --help')
  if (token === undefined)
    throw new InvalidConfigError(
      "missing --token: the origin's upload token (its banner, or upload-token in its data directory)",
    )
  const url = `${origin}/resources/${encodeURIComponent(name)}/versions/${version}`
  let res: Response
  try {
    res = await fetch(url, { method: 'DELETE', headers: { authorization: `Bearer ${token}` } })
  } catch (err) {
    const cause = (err as Error).cause instanceof Error ? ((err as Error).cause as Error) : (err as Error)
    throw new RemoveVersionError(
      `cannot reach the origin at ${origin} (${cause.message}): is --origin the URL its banner prints?`,
      'ERR_ORIGIN_UNREACHABLE',
      { cause: err },
    )
  }
  const text = await res.text()
  if (!res.ok) {
    let said = text.slice(0, 2000)
    let code = `HTTP_${res.status}`
    try {
      const body = JSON.parse(text) as { error?: { code?: string; message?: string } }
      if (body.error?.message !== undefined) said = body.error.message
      if (body.error?.code !== undefined) code = body.error.code
    } catch {}
    const hint = res.status === 401 || res.status === 403 ? " (use the origin's upload token)" : ''
    throw new RemoveVersionError(`${name} v${version} was not removed: ${said}${hint}`, code)
  }
  if (values.json === true) {
    process.stdout.write(`${text}\n`)
    return
  }
  const done = JSON.parse(text) as Omit<RemovedVersion, 'version'> & { removed: RemovedVersion['version'] }
  process.stdout.write(
    `removed ${name} v${version} (${done.removed.manifestCid}): ${done.chunksDeleted} chunks deleted, ` +
      `${(done.bytesFreed / MIB).toFixed(1)} MiB freed; ${done.chunksKept} kept (other versions or uploads hold them)\n`,
  )
}
