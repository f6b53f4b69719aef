/** Builds the OpenAPI 3.1 document of the admin API from the route table. */
import type { RouteDef } from './routes.ts'
import { eventsQuery, idParams } from './schemas.ts'

/** Parameters of the SSE streams: where a reconnecting client resumes. */
const resumeParameters = [
  {
    name: 'Last-Event-ID',
    in: 'header',
    schema: {
      type: 'string',
      description:
        'Sent by EventSource on reconnection: the events after it are sent first, in order (or a `reset` event if the tracker no longer has them, restarted since, or the id is not one of its); wins over ?lastEventId.',
    },
  },
  { name: 'lastEventId', in: 'query', schema: eventsQuery.properties.lastEventId },
]
const streamResponses = {
  '200': {
    description:
      'text/event-stream; every event has an id (`<epoch>-<seq>`), a `retry:` hint opens the stream, and `event: reset` (data `{ type, reason: restarted | too-old | invalid, at }`) tells a client to reload the state',
  },
}

/** OpenAPI document for `routes` mounted under `prefix`. */
export function openApiDocument(prefix: string, routes: RouteDef[]): object {
  const paths: Record<string, Record<string, unknown>> = {}
  for (const r of routes) {
    const path = (prefix + r.url).replace(/:([A-Za-z]+)/g, '{$1}')
    paths[path] ??= {}
    const params = r.schema?.params as { properties?: Record<string, object> } | undefined
    const query = r.schema?.querystring as { properties?: Record<string, object> } | undefined
    paths[path][r.method.toLowerCase()] = {
      summary: r.summary,
      security: [{ bearer: [] }],
      parameters: [
        ...Object.entries(params?.properties ?? {}).map(([name, schema]) => ({
          name,
          in: 'path',
          required: true,
          schema,
        })),
        ...Object.entries(query?.properties ?? {}).map(([name, schema]) => ({ name, in: 'query', schema })),
        ...Object.entries(r.headers ?? {}).map(([name, schema]) => ({ name, in: 'header', schema })),
      ],
      requestBody:
        r.schema?.body === undefined
          ? undefined
          : {
              required: r.bodyOptional !== true,
              content: { 'application/json': { schema: r.schema.body } },
            },
      responses: {
        [String(r.status ?? 200)]: { description: 'OK' },
        '400': {
          description:
            query?.properties?.cursor === undefined ? 'ERR_VALIDATION' : 'ERR_VALIDATION, ERR_INVALID_CURSOR',
          content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
        },
        '401': { description: 'ERR_UNAUTHORIZED' },
        '403': { description: 'ERR_FORBIDDEN' },
        '404': { description: 'ERR_NOT_FOUND' },
        '409': {
          description:
            'ERR_CONFLICT, ERR_VERSION_NOT_APPROVED, ERR_VERSION_REMOVED, ERR_VERSION_IN_USE, ERR_INVALID_RELEASE_STATE, ERR_STAGE_MISMATCH',
        },
        ...(r.headers?.['Idempotency-Key'] === undefined
          ? {}
          : { '422': { description: 'ERR_IDEMPOTENCY_KEY_REUSED' } }),
      },
    }
  }
  paths[`${prefix}/events`] = {
    get: {
      summary: 'Server-sent events of every release',
      security: [{ bearer: [] }],
      parameters: resumeParameters,
      responses: streamResponses,
    },
  }
  paths[`${prefix}/releases/{id}/events`] = {
    get: {
      summary: 'Server-sent events of one release',
      security: [{ bearer: [] }],
      parameters: [
        { name: 'id', in: 'path', required: true, schema: idParams.properties.id },
        ...resumeParameters,
      ],
      responses: streamResponses,
    },
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Dandelion tracker admin API', version: '1' },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: {
        Error: {
          type: 'object',
          properties: {
            error: {
              type: 'object',
              properties: { code: { type: 'string' }, message: { type: 'string' }, details: {} },
            },
          },
        },
      },
    },
    paths,
  }
}
