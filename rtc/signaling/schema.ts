/**
 * JSON schemas of client messages, compiled once with ajv. Unknown keys are rejected and every
 * string is bounded, so nothing unchecked from the network reaches the room or the SFU.
 */
import { Ajv } from 'ajv'
import { MAX_MESSAGE_BYTES } from '../constants.ts'
import { MalformedMessageError } from '../errors.ts'
import type { ClientMessage } from './messages.ts'

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
    properties: { type: { const: type }, ...properties },
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

/**
 * Parses and validates one raw client message. Throws {@link MalformedMessageError}; never
 * anything else, whatever the input.
 */
export function parseClientMessage(raw: unknown): ClientMessage {
  let text: string
  if (typeof raw === 'string') text = raw
  else if (Buffer.isBuffer(raw)) text = raw.toString('utf8')
  else if (Array.isArray(raw)) text = Buffer.concat(raw as Buffer[]).toString('utf8')
  else if (raw instanceof ArrayBuffer) text = Buffer.from(raw).toString('utf8')
  else throw new MalformedMessageError('unsupported frame')
  if (text.length > MAX_MESSAGE_BYTES) throw new MalformedMessageError('message too large')
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    throw new MalformedMessageError('not JSON')
  }
  if (!validate(value)) {
    const first = validate.errors?.[0]
    throw new MalformedMessageError(
      `invalid message${first ? `: ${first.instancePath} ${first.message}` : ''}`,
    )
  }
  return value
}
