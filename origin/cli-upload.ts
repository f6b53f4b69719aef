/**
 * `dandelion upload`: the studio's upload client, resumable across restarts (even a killed
 * process), with a progress bar; its failures said in the words of the person who ran it.
 */
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import cliProgress from 'cli-progress'
import { CONTENT_TYPES, type ContentType } from '../node/content/index.ts'
import { envValue } from '../node/dandelion-env.ts'
import { DandelionError, InvalidConfigError } from '../node/errors.ts'
import { UploadFailedError, uploadFile } from './client.ts'

const UPLOAD_HELP = `Usage: dandelion upload FILE --origin URL --name NAME --type TYPE [options]

Uploads FILE to an origin over tus. Run it again after an interruption (even a killed
process) and it resumes where it stopped.

Options:
  --origin URL        origin base URL          DANDELION_ORIGIN_URL
  --token TOKEN       upload bearer token      DANDELION_TOKEN
  --name NAME         resource name (versions 1, 2, 3… per name)
  --type TYPE         ${CONTENT_TYPES.join(' | ')}
  --mime MIME         MIME type (default: from the file extension)
  --checksum          send the file's sha256 so the origin verifies it before publishing
  --state FILE        where resumable uploads are remembered (~/.dandelion/uploads.json)
  --quiet             no progress bar
  -h, --help          this help
`

/**
 * `dandelion upload` could not reach the origin (nothing listens at `--origin`, a wrong port,
 * a name that does not resolve). tus-js-client's own message for it is a request dump.
 */
export class OriginUnreachableError extends DandelionError {
  override name = 'OriginUnreachableError'
  constructor(origin: string, cause: Error) {
    super(
      `cannot reach the origin at ${origin} (${cause.message}): is "dandelion origin" running, and is --origin the URL its banner prints ("listening on")?`,
      'ERR_ORIGIN_UNREACHABLE',
      { cause },
    )
  }
}

/** The origin refused `dandelion upload`'s token (401 or 403). */
export class UploadTokenRefusedError extends DandelionError {
  override name = 'UploadTokenRefusedError'
  constructor(origin: string, status: number, reason: string) {
    super(
      `the origin at ${origin} refused the upload token (${status}: ${reason}): use its token, the "Authorization: Bearer" of its banner or the upload-token file in its data directory (--token, DANDELION_TOKEN)`,
      'ERR_UPLOAD_TOKEN_REFUSED',
    )
  }
}

/** What an upload failure means to the person who ran the command. */
function uploadError(err: unknown, origin: string): unknown {
  if (!(err instanceof UploadFailedError)) return err
  if (err.status === 401 || err.status === 403)
    return new UploadTokenRefusedError(origin, err.status, err.message)
  if (err.status === undefined) {
    // no answer at all: tus keeps the socket's error as `causingError`
    const causing = (err.cause as { causingError?: unknown } | undefined)?.causingError
    if (causing instanceof Error && typeof (causing as { code?: unknown }).code === 'string')
      return new OriginUnreachableError(origin, causing)
  }
  return err
}

/** `dandelion upload`: resolves once the origin has published the version. */
export async function runUploadCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      origin: { type: 'string' },
      token: { type: 'string' },
      name: { type: 'string' },
      type: { type: 'string' },
      mime: { type: 'string' },
      checksum: { type: 'boolean' },
      state: { type: 'string' },
      quiet: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  })
  if (values.help === true) {
    process.stdout.write(UPLOAD_HELP)
    return
  }
  const file = positionals[0]
  const origin = values.origin ?? envValue(process.env, 'DANDELION_ORIGIN_URL')
  const token = values.token ?? envValue(process.env, 'DANDELION_TOKEN')
  const missing = [
    file === undefined ? 'FILE' : undefined,
    origin === undefined ? '--origin' : undefined,
    token === undefined ? '--token' : undefined,
    values.name === undefined ? '--name' : undefined,
    values.type === undefined ? '--type' : undefined,
  ].filter((m) => m !== undefined)
  if (missing.length > 0)
    throw new InvalidConfigError(`missing ${missing.join(', ')}; see dandelion upload --help`)
  if (!(CONTENT_TYPES as readonly string[]).includes(values.type!)) {
    throw new InvalidConfigError(`--type must be one of ${CONTENT_TYPES.join(', ')}`)
  }
  const size = (await stat(file!)).size
  let sha256: string | undefined
  if (values.checksum === true) {
    const h = createHash('sha256')
    for await (const piece of createReadStream(file!)) h.update(piece as Buffer)
    sha256 = h.digest('hex')
  }
  const bar =
    values.quiet === true
      ? undefined
      : new cliProgress.SingleBar(
          {
            format: 'uploading [{bar}] {percentage}% | {value}/{total} MiB | {speed} MiB/s',
            stream: process.stderr,
          },
          cliProgress.Presets.shades_classic,
        )
  const started = Date.now()
  bar?.start(Math.ceil(size / 1048576), 0, { speed: '0' })
  const result = await uploadFile(file!, {
    origin: origin!,
    token: token!,
    name: values.name!,
    type: values.type as ContentType,
    mime: values.mime,
    sha256,
    stateFile: values.state ?? join(homedir(), '.dandelion', 'uploads.json'),
    onProgress: (sent) => {
      const seconds = Math.max((Date.now() - started) / 1000, 0.001)
      bar?.update(Math.floor(sent / 1048576), { speed: (sent / 1048576 / seconds).toFixed(0) })
    },
  })
    .catch((err: unknown) => {
      throw uploadError(err, origin!)
    })
    .finally(() => bar?.stop())
  process.stdout.write(
    `${result.resumed ? 'resumed and ' : ''}published ${result.name} version ${result.version}\nmanifest ${result.manifestCid}\n`,
  )
}
