/** Health and Prometheus metrics. */
import type { FastifyInstance } from 'fastify'
import type { Registry } from 'prom-client'
import type { ChunkStore } from '../../node/store/index.ts'
import type { TrackerRegistrationStatus } from '../tracker-status.ts'

/** Live things the ops routes read. */
export interface OpsComponents {
  registry: Registry
  store: ChunkStore
  trackerRegistration: TrackerRegistrationStatus
}

/** Registers `GET /healthz` and `GET /metrics`. */
export function opsRoutes(app: FastifyInstance, components: OpsComponents): void {
  app.get('/healthz', async () => {
    // Tracker trouble is reported beside the status, never in it, and the answer stays 200:
    // `/healthz` answers whether this origin serves uploads, manifests and chunks, and it
    // does while the tracker is down or refuses its token (versions wait and are registered
    // once it takes them). A load balancer or a liveness probe that saw "unhealthy" would
    // take the origin out of rotation or restart it, which stops the serving and fixes
    // nothing on the tracker's side. Alert on `tracker.status` or the
    // `dandelion_origin_tracker_*` metrics instead.
    const tracker = components.trackerRegistration.health()
    return {
      status: 'ok',
      store: components.store.usage(),
      ...(tracker === undefined ? {} : { tracker }),
    }
  })
  app.get('/metrics', async (_req, reply) =>
    reply.header('Content-Type', components.registry.contentType).send(await components.registry.metrics()),
  )
}
