/**
 * Homework photos: a lamp answers a `capture-photo` control by taking a full-resolution photo,
 * uploading it to the origin over tus and ACKing with the photo's URL. The origin puts the new
 * version on the response that completes the upload (`Dandelion-Resource` / `Dandelion-Version`
 * headers); the URL is `${origin}/resources/:name/versions/:version/content`.
 */
import { createHash } from 'node:crypto'
import * as tus from 'tus-js-client'
import { RtcError } from '../errors.ts'
import type { ControlHandler, ControlResult } from '../signaling/client.ts'
import type { DeviceCommand } from '../signaling/messages.ts'

/** The upload could not be completed. */
export class PhotoUploadError extends RtcError {
  static readonly code = 'ERR_PHOTO_UPLOAD'
  override name = 'PhotoUploadError'
  constructor(message = 'photo upload failed') {
    super(message, PhotoUploadError.code)
  }
}

/** Where and how a lamp uploads. */
export interface PhotoUploadInit {
  /** Origin base URL. */
  origin: string
  /** Bearer token for the origin's upload endpoint. */
  token: string
  /** Upload chunk size; omitted means one request. */
  chunkSize?: number
  /** Delays between retries of a failed request. @default [0, 500, 2000] */
  retryDelays?: number[]
}

/** Uploads `photo` as resource `name` (type `image`) and resolves with its content URL. */
export function uploadPhoto(
  init: PhotoUploadInit,
  photo: Buffer,
  meta: { name: string; filename: string },
  options: { signal?: AbortSignal } = {},
): Promise<string> {
  options.signal?.throwIfAborted()
  let onAbort: (() => void) | undefined
  return new Promise<string>((resolve, reject) => {
    let resource: string | undefined
    let version: string | undefined
    const tusOptions: tus.UploadOptions = {
      endpoint: `${init.origin}/uploads`,
      headers: { authorization: `Bearer ${init.token}` },
      metadata: { filename: meta.filename, name: meta.name, type: 'image' },
      uploadSize: photo.length,
      retryDelays: init.retryDelays ?? [0, 500, 2000],
      onAfterResponse: (_req, res) => {
        resource = res.getHeader('Dandelion-Resource') ?? resource
        version = res.getHeader('Dandelion-Version') ?? version
      },
      onError: (err) => reject(new PhotoUploadError(err.message)),
      onSuccess: () => {
        if (resource === undefined || version === undefined) {
          reject(new PhotoUploadError('origin did not report the new version'))
          return
        }
        const name = decodeURIComponent(resource)
        resolve(`${init.origin}/resources/${encodeURIComponent(name)}/versions/${version}/content`)
      },
    }
    // never pass chunkSize: undefined to tus-js-client
    if (init.chunkSize !== undefined) tusOptions.chunkSize = init.chunkSize
    const upload = new tus.Upload(photo, tusOptions)
    onAbort = () => {
      upload.abort(true).catch(() => {})
      reject(options.signal?.reason)
    }
    options.signal?.addEventListener('abort', onAbort, { once: true })
    upload.start()
  }).finally(() => {
    // the caller's signal may outlive many uploads: a listener left on it would hold this
    // upload and the photo, and a later abort would terminate (DELETE) a finished upload
    if (onAbort !== undefined) options.signal?.removeEventListener('abort', onAbort)
  })
}

/** A lamp's camera: returns one full-resolution still (e.g. JPEG bytes). */
export type Camera = () => Promise<Buffer>

/**
 * A control handler for lamps: `capture-photo` takes a photo and uploads it; screen, camera and
 * mute are passed to `apply` (the device's own settings) and ACKed.
 */
export function lampControls(
  components: { camera: Camera; apply?: (command: DeviceCommand) => Promise<void> },
  init: PhotoUploadInit & { device: string },
): ControlHandler {
  return async (command, id): Promise<ControlResult> => {
    if (command.kind !== 'capture-photo') {
      await components.apply?.(command)
      return { ok: true }
    }
    const photo = await components.camera()
    // one resource per photo: the device plus a digest keeps names unique and valid
    const digest = createHash('sha256').update(id).digest('hex').slice(0, 12)
    const name = `homework-${init.device}-${digest}`
    const url = await uploadPhoto(init, photo, { name, filename: `${name}.jpg` })
    return { ok: true, result: { url } }
  }
}
