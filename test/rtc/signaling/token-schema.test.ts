import { describe, expect, it } from 'vitest'
import { issueToken, verifyToken } from '../../../rtc/auth/token.ts'
import { parseClientMessage } from '../../../rtc/signaling/schema.ts'

describe('tokens', () => {
  const secret = 'k'.repeat(32)
  it('round-trips claims', () => {
    const t = issueToken(secret, { sub: 'u1', role: 'teacher', room: 'r1' })
    expect(verifyToken(secret, t)).toMatchObject({ sub: 'u1', role: 'teacher', room: 'r1' })
  })
  it('refuses missing, forged, tampered and expired tokens with a reason', () => {
    const t = issueToken(secret, { sub: 'u1', role: 'student', room: 'r1' })
    const bad = (v: unknown, now?: number): unknown => {
      try {
        verifyToken(secret, v, now)
      } catch (err) {
        return err
      }
      return undefined
    }
    expect(bad(undefined)).toMatchObject({ name: 'InvalidTokenError', message: 'missing token' })
    expect(bad(issueToken('other', { sub: 'u1', role: 'student', room: 'r1' }))).toMatchObject({
      code: 'ERR_INVALID_TOKEN',
      message: 'bad token signature',
    })
    const forged = Buffer.from(
      JSON.stringify({ sub: 'u1', role: 'teacher', room: 'r1', exp: 9e15 }),
    ).toString('base64url')
    expect(bad(`${forged}.${t.split('.')[1]}`)).toMatchObject({ message: 'bad token signature' })
    expect(bad(t, Date.now() + 13 * 3600_000)).toMatchObject({ message: 'token expired' })
    expect(bad('garbage')).toMatchObject({ name: 'InvalidTokenError' })
  })
})

describe('message schema', () => {
  it('accepts valid messages', () => {
    expect(parseClientMessage('{"type":"action","action":"hand.raise"}')).toEqual({
      type: 'action',
      action: 'hand.raise',
    })
    expect(
      parseClientMessage(
        JSON.stringify({ type: 'control', id: 'c1', target: 'lamp', command: { kind: 'mute', muted: true } }),
      ),
    ).toMatchObject({ type: 'control' })
  })
  it.each([
    ['not json', '{'],
    ['no type', '{}'],
    ['unknown type', '{"type":"nuke"}'],
    ['extra key', '{"type":"ping","x":1}'],
    ['bad enum', '{"type":"action","action":"hand.steal"}'],
    ['bad id', '{"type":"control","id":"../x","target":"l","command":{"kind":"capture-photo"}}'],
    ['huge', JSON.stringify({ type: 'publish', sdp: 'x'.repeat(70_000) })],
    ['array', '[1,2]'],
    ['null', 'null'],
  ])('rejects %s with MalformedMessageError', (_name, raw) => {
    expect(() => parseClientMessage(raw)).toThrow(expect.objectContaining({ name: 'MalformedMessageError' }))
  })
})
