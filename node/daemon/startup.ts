/**
 * What `dandelion node` does before the node runs, and how it fails there: the data
 * directory, the identity key, and the errors of a start that cannot work, each said in
 * terms of the setting to change (exit 2) rather than a library's stack.
 */
import { access, constants, mkdir, readFile, stat, writeFile } from 'node:fs/promises'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { InvalidConfigError } from '../errors.ts'
import type { NodeConfig } from './config-schema.ts'
import { settingName } from './config-sources.ts'

/**
 * The daemon's libp2p identity, kept in `path` (mode 0600). Created exclusively: of two
 * daemons started at once on a new directory, the one that loses the race reads the
 * winner's key instead of overwriting it (and then finds the directory in use).
 */
export async function loadOrCreateKey(path: string): Promise<PrivateKey> {
  for (;;) {
    let bytes: Uint8Array | undefined
    try {
      bytes = await readFile(path)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw dataFileError(path, err)
    }
    if (bytes !== undefined) {
      try {
        return privateKeyFromProtobuf(bytes)
      } catch (err) {
        // never replaced: it is this node's identity (peers, tracker enrollment know it)
        throw dataFileError(
          path,
          new Error(
            `not a private key (${(err as Error).message}); restore it from a backup, or delete it to give this node a new identity`,
          ),
        )
      }
    }
    const key = await generateKeyPair('Ed25519')
    try {
      await writeFile(path, privateKeyToProtobuf(key), { mode: 0o600, flag: 'wx' })
      return key
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw dataFileError(path, err)
    }
  }
}

/**
 * The data directory cannot be used: not a directory, cannot be created or written, or a
 * file in it cannot be read. Matched by `name`; a configuration error (exit 2).
 */
export class DataDirError extends InvalidConfigError {
  override name = 'DataDirError'
}

/** A file of the data directory that cannot be read or written. */
function dataFileError(path: string, cause: unknown): DataDirError {
  return new DataDirError(`cannot use ${path} (${settingName('data')}): ${(cause as Error).message}`)
}

/** Another daemon runs on the same data directory. Matched by `name`; exit 2. */
export class DataDirInUseError extends InvalidConfigError {
  override name = 'DataDirInUseError'
  constructor(dir: string) {
    super(
      `data directory ${dir} is in use by another node daemon: stop it first, or give this one its own ${settingName('data')}`,
    )
  }
}

/** An address the daemon was told to listen on cannot be used (in use, not local). Exit 2. */
export class ListenAddressError extends InvalidConfigError {
  override name = 'ListenAddressError'
}

/** Creates the data directory, and fails clearly where it is no writable directory. */
export async function prepareDataDir(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true })
    if (!(await stat(dir)).isDirectory()) throw new Error('not a directory')
    await access(dir, constants.W_OK)
  } catch (err) {
    const e = err as NodeJS.ErrnoException
    // mkdir reports EEXIST for a file in the way, and ENOENT (not EROFS) on a read-only mount
    const why =
      e.code === 'EEXIST' || e.code === 'ENOTDIR'
        ? 'not a directory'
        : e.code === 'ENOENT'
          ? 'cannot be created'
          : e.message
    throw new DataDirError(`data directory ${dir} (${settingName('data')}): ${why}`)
  }
}

/** The error `node.start()` failed with, said in terms of the setting to change. */
export function startError(err: unknown, config: Readonly<NodeConfig>): unknown {
  const causes: Array<Error & { code?: string; name: string }> = []
  for (let e = err as Error | undefined; e instanceof Error && causes.length < 8; e = e.cause as Error)
    causes.push(e)
  // LevelDB's lock on the store's index: held by the daemon that has the directory open
  if (causes.some((e) => e.code === 'LEVEL_LOCKED')) return new DataDirInUseError(config.data)
  const e = causes[0]
  if (e === undefined) return err
  if (e.code === 'EADDRINUSE' || e.code === 'EADDRNOTAVAIL' || e.code === 'EACCES')
    return new ListenAddressError(
      `cannot serve the local API on ${config.playbackHost}:${config.playbackPort} (${settingName('playbackPort')}, ${settingName('playbackHost')}): ${e.message}`,
    )
  if (e.name === 'UnsupportedListenAddressesError') {
    // libp2p's message lists each address with its error's stack, and advice to set an
    // option of its own the daemon does not expose: keep the addresses and the reasons
    const lines = e.message
      .split('\n')
      .slice(1)
      .filter((l) => l.trim() !== '' && !/^\s+at /.test(l))
      .map((l) => l.trim().replace(/: Error: /, ': '))
    return new ListenAddressError(
      `cannot listen on ${lines.join('; ') || config.listen.join(', ')} (${settingName('listen')})`,
    )
  }
  return err
}
