/** Health and Prometheus metrics. */
import type { FastifyInstance } from 'fastify'
import type { Registry } from 'prom-client'
import type { ChunkStore } from '../../node/store/index.ts'

/** Registers `GET /healthz` and `GET /metrics`. */
export function opsRoutes(app: FastifyInstance, components: { registry: Registry; store: ChunkStore }): void {
  app.get('/healthz', async () => ({ status: 'ok', store: components.store.usage() }))
  app.get('/metrics', async (_req, reply) =>
    reply.header('Content-Type', components.registry.contentType).send(await components.registry.metrics()),
  )
}
