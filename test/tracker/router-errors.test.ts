/** Errors fastify's router raises before any handler still come in the API's error shape. */
import { afterEach, describe, expect, it } from 'vitest'
import { ADMIN, Harness } from './harness.ts'

const h = new Harness()
afterEach(() => h.teardown())

describe('tracker router errors', () => {
  it('answers an overlong path parameter and an undecodable URL as { error: { code, message } }', async () => {
    const t = await h.tracker()
    const headers = { authorization: `Bearer ${ADMIN}` }
    const long = await t.app.inject({ url: `/api/v1/nodes/${'x'.repeat(300)}`, headers })
    expect(long.statusCode).toBe(414)
    expect(long.json().error).toMatchObject({ code: 'FST_ERR_MAX_PARAM_LENGTH' })
    const bad = await t.app.inject({ url: '/api/v1/nodes/%E0%A4%A', headers })
    expect(bad.statusCode).toBe(400)
    expect(bad.json().error).toMatchObject({ code: 'FST_ERR_BAD_URL' })
  })
})
