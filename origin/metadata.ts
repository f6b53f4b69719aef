/**
 * Validation of tus upload metadata. Known keys: `filename`, `name` (resource name),
 * `type`, optional `mime`, and an optional whole-file `blake3` or `sha256` (hex).
 * Anything else is refused at creation, before a byte is stored.
 */
import { extname } from 'node:path'
import { CONTENT_TYPES, type ContentType, checkResourceName, isMimeType } from '../node/content/index.ts'
import { BadRequestError } from './errors.ts'
import type { IngestMeta } from './ingest.ts'

const KNOWN = new Set(['filename', 'name', 'type', 'mime', 'blake3', 'sha256'])
const HEX64 = /^[0-9a-f]{64}$/

const MIME_BY_EXT: Record<string, string> = {
  '.mp4': 'video/mp4',
  '.m4v': 'video/mp4',
  '.webm': 'video/webm',
  '.mkv': 'video/x-matroska',
  '.mov': 'video/quicktime',
  '.zip': 'application/zip',
  '.apk': 'application/vnd.android.package-archive',
  '.tar': 'application/x-tar',
  '.gz': 'application/gzip',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.png': 'image/png',
  '.pdf': 'application/pdf',
  '.html': 'text/html',
  '.json': 'application/json',
}

/** Guesses a MIME type from a file name. */
export function mimeFor(filename: string | undefined): string {
  return MIME_BY_EXT[extname(filename ?? '').toLowerCase()] ?? 'application/octet-stream'
}

/**
 * Checks upload metadata and returns the ingest description.
 * @throws BadRequestError with code `ERR_INVALID_METADATA`
 */
export function parseUploadMetadata(metadata: Record<string, string | null> | undefined): IngestMeta {
  const m = metadata ?? {}
  const bad = (message: string): BadRequestError => new BadRequestError(message, 'ERR_INVALID_METADATA')
  for (const key of Object.keys(m)) {
    if (!KNOWN.has(key))
      throw bad(`unknown metadata key ${JSON.stringify(key)}; known: ${[...KNOWN].join(', ')}`)
  }
  if (m.name == null) throw bad('metadata "name" (the resource name) is required')
  try {
    checkResourceName(m.name)
  } catch (err) {
    throw bad(`metadata "name": ${(err as Error).message}`)
  }
  if (m.type == null || !(CONTENT_TYPES as readonly string[]).includes(m.type)) {
    throw bad(`metadata "type" must be one of ${CONTENT_TYPES.join(', ')}`)
  }
  if (m.filename != null && (m.filename.length > 255 || m.filename.includes('\0'))) {
    throw bad('metadata "filename" must be at most 255 characters')
  }
  if (m.mime != null && !isMimeType(m.mime)) throw bad('metadata "mime" is not a MIME type')
  if (m.blake3 != null && !HEX64.test(m.blake3))
    throw bad('metadata "blake3" must be 64 lower-case hex digits')
  if (m.sha256 != null && !HEX64.test(m.sha256))
    throw bad('metadata "sha256" must be 64 lower-case hex digits')
  const meta: IngestMeta = {
    name: m.name,
    type: m.type as ContentType,
    mime: m.mime ?? mimeFor(m.filename ?? undefined),
  }
  if (m.blake3 != null) meta.blake3 = m.blake3
  if (m.sha256 != null) meta.sha256 = m.sha256
  return meta
}
