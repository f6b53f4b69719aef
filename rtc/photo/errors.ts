/** Errors of a lamp's homework-photo upload. */
import { RtcError } from '../errors.ts'

/** The upload could not be completed. */
export class PhotoUploadError extends RtcError {
  static readonly code: string = 'ERR_PHOTO_UPLOAD'
  override name = 'PhotoUploadError'
  constructor(message = 'photo upload failed', code = PhotoUploadError.code) {
    super(message, code)
  }
}

/**
 * The origin refused to create the upload because its grant created one already (409
 * `ERR_GRANT_USED`): by this lamp before it restarted, or by a creation whose answer was lost.
 * `uploadUrl` is that upload, on the grant's origin.
 */
export class PhotoGrantUsedError extends PhotoUploadError {
  static override readonly code = 'ERR_PHOTO_GRANT_USED'
  override name = 'PhotoGrantUsedError'
  /** The upload the grant created. */
  readonly uploadUrl: string
  constructor(uploadUrl: string, message: string) {
    super(message, PhotoGrantUsedError.code)
    this.uploadUrl = uploadUrl
  }
}
