/** Helpers of the walkthrough: the sample file, digests, banner parsing, waiting. */
import { createHash, randomBytes } from 'node:crypto'
import { createWriteStream } from 'node:fs'
import { finished } from 'node:stream/promises'
import { publicKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromString } from '@libp2p/peer-id'
import { InvalidConfigError } from '../errors.ts'

const MiB = 1024 * 1024

/** Writes `bytes` random bytes to `path`; returns their sha256 (hex). */
export async function writeSample(path: string, bytes: number): Promise<string> {
  const hash = createHash('sha256')
  const file = createWriteStream(path)
  for (let left = bytes; left > 0; left -= MiB) {
    const piece = randomBytes(Math.min(MiB, left))
    hash.update(piece)
    if (!file.write(piece)) await new Promise<void>((r) => file.once('drain', () => r()))
  }
  file.end()
  await finished(file)
  return hash.digest('hex')
}

/** Streams a URL and returns its length and sha256. */
export async function digestUrl(
  url: string,
  signal: AbortSignal,
): Promise<{ bytes: number; sha256: string }> {
  const res = await fetch(url, { signal })
  if (!res.ok || res.body === null) return { bytes: 0, sha256: `HTTP ${res.status}` }
  const hash = createHash('sha256')
  let bytes = 0
  for await (const piece of res.body) {
    hash.update(piece)
    bytes += piece.byteLength
  }
  return { bytes, sha256: hash.digest('hex') }
}

/** The origin's banner: its URL, its key (base64 protobuf) and its seeding node's address. */
export function parseOriginBanner(lines: string[]): { url: string; publicKey: string; seed: string } {
  const url = match(lines, /origin listening on (\S+)/)
  const peerId = match(lines, /origin key\s+(\S+)/)
  const seed = match(lines, /seeding node\s+(\/\S+\/p2p\/\S+)/)
  const key = peerIdFromString(peerId).publicKey
  if (key === undefined) throw new InvalidConfigError(`origin key ${peerId} embeds no public key`)
  return { url, seed, publicKey: Buffer.from(publicKeyToProtobuf(key)).toString('base64') }
}

/** The first capture of `re` in `lines`. */
export function match(lines: string[], re: RegExp): string {
  for (const l of lines) {
    const m = re.exec(l)
    if (m !== null) return m[1]
  }
  throw new Error(`expected a line matching ${re} in:\n${lines.join('\n')}`)
}

/** A JSON line that has `key`, or undefined. */
export function parseJson<T>(line: string, key: string): T | undefined {
  if (!line.startsWith('{')) return undefined
  try {
    const v = JSON.parse(line) as Record<string, unknown>
    return key in v ? (v as T) : undefined
  } catch {
    return undefined
  }
}

/** Polls `check` until it holds. */
export async function until(check: () => Promise<boolean>, signal: AbortSignal): Promise<void> {
  while (!(await check())) await sleep(200, signal)
}

/** Waits `ms`, or rejects with the signal's reason. */
export async function sleep(ms: number, signal: AbortSignal): Promise<void> {
  signal.throwIfAborted()
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    const onAbort = (): void => {
      clearTimeout(timer)
      reject(signal.reason)
    }
    signal.addEventListener('abort', onAbort, { once: true })
  })
}
