/**
 * `DELETE /resources/:name/versions/:version`: removes a version to get its disk back (see
 * `version-removal.ts`), with the upload token only. Answers what was deleted; 409 when the
 * tracker says the version is still in use, 503 when the tracker cannot be asked.
 */
import type { FastifyInstance } from 'fastify'
import { bearerVerdict } from '../../node/bearer.ts'
import { ForbiddenError, UnauthorizedError } from '../errors.ts'
import type { RemovedVersion } from '../version-removal.ts'

const versionParams = {
  type: 'object',
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 200 },
    version: { type: 'integer', minimum: 1 },
  },
  required: ['name', 'version'],
}

/** Registers the version removal route. */
export function versionRoutes(
  app: FastifyInstance,
  components: { removeVersion(name: string, version: number): Promise<RemovedVersion> },
  init: { token: string },
): void {
  app.delete<{ Params: { name: string; version: number } }>(
    '/resources/:name/versions/:version',
    { schema: { params: versionParams } },
    async (req) => {
      const verdict = bearerVerdict(req.headers.authorization, init.token)
      if (verdict === 'missing') throw new UnauthorizedError()
      if (verdict === 'wrong') throw new ForbiddenError()
      // not aborted with the request: once the tracker took the removal, the origin completes it
      const done = await components.removeVersion(req.params.name, req.params.version)
      return {
        removed: done.version,
        chunksDeleted: done.chunksDeleted,
        chunksKept: done.chunksKept,
        bytesFreed: done.bytesFreed,
      }
    },
  )
}
