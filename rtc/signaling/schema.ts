/**
 * JSON schemas of client messages, compiled once with ajv. Unknown keys are rejected and every
 * string is bounded, so nothing unchecked from the network reaches the room or the SFU.
 */
import { Ajv } from 'ajv'
import { MAX_MESSAGE_BYTES } from '../constants.ts'
import { MalformedMessageError } from '../errors.ts'
import type { ClientMessage } from './messages.ts'

/** Ids of controls, calls and users, and request ids. */
const id = { type: 'string', pattern: '^[A-Za-z0-9_.:-]{1,64}$' }
const sdp = { type: 'string', minLength: 1, maxLength: 32 * 1024 }

function obj(
  type: string,
  properties: Record<string, unknown>,
  required: string[] = [],
): Record<string, unknown> {
  return {
    type: 'object',
    additionalProperties: false,
    required: ['type', ...required],
    // every message may carry a request id, echoed in the error that refuses it
    properties: { type: { const: type }, rid: id, ...properties },
  }
}

const command = {
  oneOf: [
    {
      type: 'object',
      additionalProperties: false,
      required: ['kind'],
      properties: { kind: { const: 'capture-photo' } },
    },
    {
      type: 'object',
      additionalProperties: false,
      required: ['kind', 'screen'],
      properties: { kind: { const: 'screen' }, screen: { enum: ['whiteboard', 'video'] } },
    },
    {
      type: 'object',
      additionalProperties: false,
      required: ['kind', 'camera'],
      properties: { kind: { const: 'camera' }, camera: { enum: ['face', 'desk'] } },
    },
    {
      type: 'object',
      additionalProperties: false,
      required: ['kind', 'muted'],
      properties: { kind: { const: 'mute' }, muted: { type: 'boolean' } },
    },
  ],
}

const ACTIONS = [
  'call.initiate',
  'call.ringing',
  'call.accept',
  'call.reject',
  'call.cancel',
  'call.connected',
  'call.end',
  'hand.raise',
  'hand.lower',
  'hand.accept',
  'hand.dismiss',
  'stage.invite',
  'stage.remove',
]

/** Fields each action needs besides `action`. */
const ACTION_FIELDS: Readonly<Record<string, string[]>> = {
  'call.initiate': ['callId', 'callee'],
  'call.ringing': ['callId'],
  'call.accept': ['callId'],
  'call.reject': ['callId'],
  'call.cancel': ['callId'],
  'call.connected': ['callId'],
  'call.end': ['callId'],
  'hand.accept': ['user'],
  'hand.dismiss': ['user'],
  'stage.invite': ['user'],
  'stage.remove': ['user'],
}

/** The schema of every message a client may send. */
export const clientMessageSchema = {
  type: 'object',
  discriminator: { propertyName: 'type' },
  required: ['type'],
  properties: { type: { type: 'string' } },
  oneOf: [
    obj(
      'hello',
      {
        token: { type: 'string', minLength: 1, maxLength: 2048 },
        resume: {
          type: 'object',
          additionalProperties: false,
          required: ['session', 'seq'],
          properties: { session: id, seq: { type: 'integer', minimum: 0 } },
        },
      },
      ['token'],
    ),
    {
      ...obj('action', { action: { enum: ACTIONS }, callId: id, callee: id, user: id }, ['action']),
      // an action without the fields it names is refused here: a call.initiate without callId
      // started a call with no id, and one without callee rang nobody
      allOf: Object.entries(ACTION_FIELDS).map(([action, required]) => ({
        if: { properties: { action: { const: action } } },
        // biome-ignore lint/suspicious/noThenProperty: JSON Schema keyword
        then: { required, properties: Object.fromEntries(required.map((k) => [k, id])) },
      })),
    },
    obj('control', { id, target: id, command }, ['id', 'target', 'command']),
    obj(
      'control-ack',
      {
        id,
        ok: { type: 'boolean' },
        result: {
          type: 'object',
          additionalProperties: false,
          properties: { url: { type: 'string', maxLength: 2048 } },
        },
        error: { type: 'string', maxLength: 512 },
      },
      ['id', 'ok'],
    ),
    obj('control-progress', { id }, ['id']),
    obj('publish', { sdp }, ['sdp']),
    obj('subscribe', {}),
    obj('subscribe-answer', { sdp }, ['sdp']),
    obj('ping', {}),
  ],
}

const ajv = new Ajv({ allErrors: false, strict: true, discriminator: true })
const validate = ajv.compile<ClientMessage>(clientMessageSchema)

const ridPattern = new RegExp(id.pattern)

/**
 * Decodes one raw frame into a JSON value, unchecked. Throws {@link MalformedMessageError} for a
 * frame over {@link MAX_MESSAGE_BYTES} (not parsed at all) or one that is not JSON.
 */
export function decodeClientMessage(raw: unknown): unknown {
  let bytes: Buffer
  if (typeof raw === 'string') bytes = Buffer.from(raw, 'utf8')
  else if (Buffer.isBuffer(raw)) bytes = raw
  else if (Array.isArray(raw)) bytes = Buffer.concat(raw as Buffer[])
  else if (raw instanceof ArrayBuffer) bytes = Buffer.from(raw)
  else throw new MalformedMessageError('unsupported frame')
  // the limit is in bytes, as the socket's own frame limit is
  if (bytes.length > MAX_MESSAGE_BYTES) throw new MalformedMessageError('message too large')
  try {
    return JSON.parse(bytes.toString('utf8'))
  } catch {
    throw new MalformedMessageError('not JSON')
  }
}

/**
 * The request id a decoded message carries, if it is a well-formed one, whether or not the
 * message itself passes the schema: a refusal for a malformed message still names its request.
 */
export function requestIdOf(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || !Object.hasOwn(value, 'rid')) return undefined
  const rid = (value as { rid: unknown }).rid
  return typeof rid === 'string' && ridPattern.test(rid) ? rid : undefined
}

/** Checks a decoded value against {@link clientMessageSchema}. Throws {@link MalformedMessageError}. */
export function validateClientMessage(value: unknown): ClientMessage {
  if (!validate(value)) {
    const first = validate.errors?.[0]
    throw new MalformedMessageError(
      `invalid message${first ? `: ${first.instancePath} ${first.message}` : ''}`,
    )
  }
  return value
}

/**
 * Parses and validates one raw client message. Throws {@link MalformedMessageError}; never
 * anything else, whatever the input.
 */
export function parseClientMessage(raw: unknown): ClientMessage {
  return validateClientMessage(decodeClientMessage(raw))
}
