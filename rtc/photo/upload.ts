/**
 * Homework photos: a lamp answers a `capture-photo` control by taking a full-resolution photo,
 * uploading it to the origin over tus and ACKing with the photo's URL. The server sends the
 * control with an upload grant for one resource name and size (`PhotoUploadOffer`): the lamp
 * holds no origin token, and a grant cannot publish anything but that one photo. The origin
 * puts the new version on the response that completes the upload (`Dandelion-Resource` /
 * `Dandelion-Version` headers); the URL is `${origin}/resources/:name/versions/:version/content`.
 */
import * as tus from 'tus-js-client'
import { RtcError } from '../errors.ts'
import type { ControlHandler, ControlResult } from '../signaling/client.ts'
import type { DeviceCommand, PhotoUploadOffer } from '../signaling/messages.ts'

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
  /** Bearer for the origin's upload endpoint: an upload grant (or the origin's upload token). */
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

/** How a lamp uploads; origin, name and bearer come with each control's upload grant. */
export type LampUploadInit = Pick<PhotoUploadInit, 'chunkSize' | 'retryDelays'>

/**
 * A control handler for lamps: `capture-photo` takes a photo and uploads it with the upload
 * grant that came with the control; screen, camera and mute are passed to `apply` (the
 * device's own settings) and ACKed.
 */
export function lampControls(
  components: { camera: Camera; apply?: (command: DeviceCommand) => Promise<void> },
  init: LampUploadInit = {},
): ControlHandler {
  return async (command, _id, upload): Promise<ControlResult> => {
    if (command.kind !== 'capture-photo') {
      await components.apply?.(command)
      return { ok: true }
    }
    if (!isOffer(upload)) {
      throw new PhotoUploadError(
        'no upload grant came with capture-photo: the rtc server needs --origin to hand them out',
      )
    }
    const photo = await components.camera()
    if (photo.length > upload.maxBytes) {
      throw new PhotoUploadError(
        `the photo is ${photo.length} bytes, more than the ${upload.maxBytes} its upload grant allows`,
      )
    }
    const url = await uploadPhoto({ ...init, origin: upload.origin, token: upload.grant }, photo, {
      name: upload.name,
      filename: `${upload.name}.jpg`,
    })
    return { ok: true, result: { url } }
  }
}

function isOffer(u: PhotoUploadOffer | undefined): u is PhotoUploadOffer {
  return (
    typeof u === 'object' &&
    u !== null &&
    typeof u.origin === 'string' &&
    /^https?:\/\//.test(u.origin) &&
    typeof u.name === 'string' &&
    typeof u.grant === 'string' &&
    Number.isSafeInteger(u.maxBytes)
  )
}
