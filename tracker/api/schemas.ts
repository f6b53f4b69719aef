/**
 * JSON Schemas of the admin API bodies and params (unknown keys are rejected). Bodies are
 * taken as JSON types them, never coerced (see `api/index.ts`); numbers are bounded to
 * what the state and the nodes can read.
 */
import {
  DEFAULT_LIST_LIMIT,
  MAX_ACTIVATE_AT_MS,
  MAX_ENROLLMENT_TOKEN_TTL_MS,
  MAX_LIST_LIMIT,
  MAX_OUTCOME_TIMEOUT_MS,
  MAX_STAGES,
  MAX_VERSION,
} from '../constants.ts'

const id = { type: 'string', minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9._:-]+$' } as const
const name = { type: 'string', minLength: 1, maxLength: 200 } as const
const ids = { type: 'array', items: id, maxItems: 10_000 } as const
/** A resource's version number. */
const version = { type: 'integer', minimum: 1, maximum: MAX_VERSION } as const
const labels = {
  type: 'array',
  items: { type: 'string', minLength: 1, maxLength: 64 },
  maxItems: 64,
} as const

export const idParams = {
  type: 'object',
  required: ['id'],
  additionalProperties: false,
  properties: { id },
} as const

export const cityBody = {
  type: 'object',
  required: ['id', 'name'],
  additionalProperties: false,
  properties: { id, name },
} as const

export const campusBody = {
  type: 'object',
  required: ['id', 'city', 'name'],
  additionalProperties: false,
  properties: { id, city: id, name },
} as const

export const nodeBody = {
  type: 'object',
  required: ['id'],
  additionalProperties: false,
  properties: { id, campus: id, labels },
} as const

/** `POST /enrollment-tokens`: every field optional (a token for any campus, 7 days, any number of nodes). */
export const enrollmentTokenBody = {
  type: ['object', 'null'],
  additionalProperties: false,
  properties: {
    campus: id,
    ttlSeconds: { type: 'integer', minimum: 1, maximum: MAX_ENROLLMENT_TOKEN_TTL_MS / 1000 },
    maxUses: { type: 'integer', minimum: 1, maximum: 100_000 },
    note: name,
  },
} as const

/** An issued enrollment token's id (16 hex digits). */
export const enrollmentTokenParams = {
  type: 'object',
  required: ['id'],
  additionalProperties: false,
  properties: { id: { type: 'string', pattern: '^[0-9a-f]{16}$' } },
} as const

export const nodePatchBody = {
  type: 'object',
  additionalProperties: false,
  properties: { campus: id, labels },
} as const

export const deviceBody = {
  type: 'object',
  required: ['id'],
  additionalProperties: false,
  properties: { id, campus: id, node: id, labels },
} as const

export const resourceParams = {
  type: 'object',
  required: ['name'],
  additionalProperties: false,
  properties: { name },
} as const

export const versionParams = {
  type: 'object',
  required: ['name', 'version'],
  additionalProperties: false,
  properties: { name, version },
} as const

export const versionBody = {
  type: 'object',
  required: ['version', 'manifestCid', 'size', 'type'],
  additionalProperties: false,
  properties: {
    version,
    manifestCid: { type: 'string', minLength: 8, maxLength: 200 },
    size: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER },
    type: { type: 'string', enum: ['video', 'interactive', 'app', 'image', 'file'] },
    mime: { type: 'string', maxLength: 200 },
  },
} as const

const stage = {
  type: 'object',
  required: ['percent'],
  additionalProperties: false,
  properties: {
    percent: { type: 'number', exclusiveMinimum: 0, maximum: 100 },
    gate: { type: 'string', enum: ['auto', 'manual'], default: 'auto' },
    successRatio: { type: 'number', exclusiveMinimum: 0, maximum: 1 },
  },
} as const

export const releaseBody = {
  type: 'object',
  required: ['resource', 'version', 'targets'],
  additionalProperties: false,
  properties: {
    resource: name,
    version,
    targets: {
      type: 'object',
      additionalProperties: false,
      minProperties: 1,
      properties: { cities: ids, campuses: ids, labels, nodes: ids },
    },
    stages: { type: 'array', items: stage, minItems: 1, maxItems: 20 },
    ab: {
      type: 'object',
      required: ['version', 'percent'],
      additionalProperties: false,
      properties: {
        version,
        percent: { type: 'number', minimum: 0, maximum: 100 },
      },
    },
    activateAt: { type: 'integer', minimum: 0, maximum: MAX_ACTIVATE_AT_MS, description: 'epoch ms' },
    outcomeTimeoutMs: {
      type: 'integer',
      minimum: 1,
      maximum: MAX_OUTCOME_TIMEOUT_MS,
      description:
        'How long a node has, from its ACK, to report an outcome before it counts as failed with reason "timeout" (default 24 h)',
    },
  },
} as const

/** Operations of `POST /releases/:id/:op` (`advance` has a route of its own, with a body). */
export const releaseOpParams = {
  type: 'object',
  required: ['id', 'op'],
  additionalProperties: false,
  properties: { id, op: { type: 'string', enum: ['pause', 'resume', 'abort', 'rollback', 'compact'] } },
} as const

/**
 * Body of `POST /releases/:id/advance`, optional (no body, or `{}`, advances from wherever
 * the release is, as before `from` existed).
 */
export const advanceBody = {
  type: ['object', 'null'],
  additionalProperties: false,
  properties: {
    from: {
      type: 'integer',
      minimum: 0,
      maximum: MAX_STAGES - 1,
      description:
        'The stage index (release.stage) the caller saw and advances from. If the release is no longer at it, the advance answers 409 ERR_STAGE_MISMATCH and changes nothing: a retried or doubled advance moves one stage, not two.',
    },
  },
} as const

/** `?limit` of a list: how many entries at most. */
const listLimit = {
  type: 'integer',
  minimum: 1,
  maximum: MAX_LIST_LIMIT,
  default: DEFAULT_LIST_LIMIT,
} as const

export const listQuery = {
  type: 'object',
  additionalProperties: false,
  properties: { limit: listLimit },
} as const

/** Query of `GET /nodes`: a page size, where to go on from, and the attention filter. */
export const nodeListQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    limit: listLimit,
    // checked, length included, by `decodeCursor` (400 ERR_INVALID_CURSOR): every cursor the
    // tracker did not make is refused with the same code, whatever is wrong with it
    cursor: {
      type: 'string',
      description:
        'The `next` of the previous page, as it is. Absent: from the first node. Nodes are listed in ascending id order; one present from the first page to the last is listed exactly once.',
    },
    attention: {
      type: 'boolean',
      description:
        'true: only the nodes whose latest health report says they need attention (disk under its floor, store refusing writes, corrupt chunks found by the scrub, origin fallback failing, report overdue; tracker/health/attention.ts). Keep it the same from page to page.',
    },
  },
} as const

export const releaseNodesQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    limit: listLimit,
    cursor: {
      type: 'string',
      description:
        'The `next` of the previous page, as it is. Absent: from the first node. Nodes are listed in ascending id order; one in the release from the first page to the last is listed exactly once.',
    },
    state: {
      type: 'string',
      enum: [
        'waiting',
        'pending',
        'fetching',
        'placed',
        'active',
        'failed',
        'reverting',
        'reverted',
        'withdrawn',
      ],
    },
  },
} as const

/**
 * Query of the SSE streams: where a client that cannot set the `Last-Event-ID` header (an
 * EventSource polyfill) resumes from. The header wins over it.
 */
export const eventsQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    lastEventId: {
      type: 'string',
      maxLength: 256,
      description:
        'The id of the last event received, as the Last-Event-ID header carries it: the events after it are sent first (or a `reset` event if they are no longer kept).',
    },
  },
} as const

/** `Idempotency-Key` of `POST /releases` (documented; parsed by `parseIdempotencyKey`). */
export const idempotencyKeyHeader = {
  type: 'string',
  minLength: 1,
  maxLength: 257,
  description:
    'Optional. A retry of the same request with the same key answers with the release the first created (201, header Idempotent-Replayed: true) instead of creating another; the key with a different request is refused with 422. A quoted string ("…") or a bare token of visible ASCII, at most 255 characters.',
} as const

/** A list of ids, for a bulk request. */
const idList = { type: 'array', minItems: 1, maxItems: 10_000, uniqueItems: true, items: id } as const

/** `POST /scrubs`: the nodes to scrub, named or by campus or city (at least one list). */
export const scrubBody = {
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  properties: { nodes: idList, campuses: idList, cities: idList },
} as const
