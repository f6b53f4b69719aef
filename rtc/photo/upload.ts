/**
 * Homework photos: a lamp answers a `capture-photo` control by taking a full-resolution photo,
 * uploading it to the origin over tus and ACKing with the photo's URL. The server sends the
 * control with an upload grant for one resource name and size (`PhotoUploadOffer`): the lamp
 * holds no origin token, and a grant cannot publish anything but that one photo. The origin
 * puts the new version on the response that completes the upload (`Dandelion-Resource` /
 * `Dandelion-Version` headers); the URL is `${origin}/resources/:name/versions/:version/content`.
 * A lamp that gets the same control again after a restart has the same grant, whose upload
 * exists already: {@link uploadWithGrant} reports it if published, or starts it over.
 */
import * as tus from 'tus-js-client'
import { PHOTO_RETRY_DELAYS_MS, PHOTO_UPLOAD_RESTARTS } from '../constants.ts'
import type { ControlHandler, ControlResult } from '../signaling/client.ts'
import type { DeviceCommand, PhotoUploadOffer } from '../signaling/messages.ts'
import { PhotoGrantUsedError, PhotoUploadError } from './errors.ts'
import {
  contentUrl,
  inspectGrantUpload,
  shouldRetry,
  terminateGrantUpload,
  uploadError,
} from './grant-upload.ts'

export { PhotoGrantUsedError, PhotoUploadError } from './errors.ts'

/** Where and how a lamp uploads. */
export interface PhotoUploadInit {
  /** Origin base URL. */
  origin: string
  /** Bearer for the origin's upload endpoint: an upload grant (or the origin's upload token). */
  token: string
  /** Upload chunk size; omitted means one request. */
  chunkSize?: number
  /** Delays between retries of a failed request. @default {@link PHOTO_RETRY_DELAYS_MS} */
  retryDelays?: number[]
}

/**
 * Uploads `photo` as resource `name` (type `image`) and resolves with its content URL.
 * @throws PhotoGrantUsedError when the grant made its upload already; PhotoUploadError
 */
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
      retryDelays: init.retryDelays ?? [...PHOTO_RETRY_DELAYS_MS],
      onShouldRetry: shouldRetry,
      onAfterResponse: (_req, res) => {
        resource = res.getHeader('Dandelion-Resource') ?? resource
        version = res.getHeader('Dandelion-Version') ?? version
      },
      onError: (err) => reject(uploadError(err, `${init.origin}/uploads`)),
      onSuccess: () => {
        if (resource === undefined || version === undefined) {
          reject(new PhotoUploadError('origin did not report the new version'))
          return
        }
        resolve(contentUrl(init.origin, resource, version))
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

/**
 * Uploads `photo` with an upload grant and resolves with the URL of the photo the grant
 * published: this one, or the one an earlier run of the lamp uploaded with the same grant
 * before it died (the teacher asked for one photo, and that one is there). An unfinished upload
 * the grant made earlier is terminated and this photo uploaded whole, never appended to it.
 * @throws PhotoUploadError
 */
export async function uploadWithGrant(
  init: PhotoUploadInit,
  photo: Buffer,
  meta: { name: string; filename: string },
  options: { signal?: AbortSignal } = {},
): Promise<string> {
  const grant = {
    origin: init.origin,
    token: init.token,
    retryDelays: init.retryDelays ?? PHOTO_RETRY_DELAYS_MS,
  }
  for (let restarts = 0; ; restarts++) {
    try {
      return await uploadPhoto(init, photo, meta, options)
    } catch (err) {
      if (!(err instanceof PhotoGrantUsedError) || restarts >= PHOTO_UPLOAD_RESTARTS) throw err
      const found = await inspectGrantUpload(grant, err.uploadUrl, options)
      if (found.kind === 'published') return found.url
      if (found.kind === 'unfinished') await terminateGrantUpload(grant, err.uploadUrl, options)
      // gone (expired, or terminated): the grant may create it again
    }
  }
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
    // the same grant again after a restart: the upload it made may be done, or half done
    const url = await uploadWithGrant({ ...init, origin: upload.origin, token: upload.grant }, photo, {
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
