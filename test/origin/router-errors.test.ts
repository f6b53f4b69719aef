/** Errors fastify's router raises before any handler still come in the API's error shape. */
import { afterEach, describe, expect, it } from 'vitest'
import { Fixture } from './utils.ts'

const fx = new Fixture()
afterEach(() => fx.cleanup())

describe('origin router errors', () => {
  it('answers an overlong path parameter and an undecodable URL as { error: { code, message } }', async () => {
    const origin = await fx.origin()
    const long = await fetch(`${origin.url}/resources/${'x'.repeat(300)}/versions`)
    expect(long.status).toBe(414)
    expect(((await long.json()) as { error: unknown }).error).toMatchObject({
      code: 'FST_ERR_MAX_PARAM_LENGTH',
    })
    const bad = await fetch(`${origin.url}/chunks/%E0%A4%A`)
    expect(bad.status).toBe(400)
    expect(((await bad.json()) as { error: unknown }).error).toMatchObject({ code: 'FST_ERR_BAD_URL' })
  })
})
