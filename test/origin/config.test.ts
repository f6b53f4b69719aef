import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { InvalidConfigError } from '../../node/errors.ts'
import { loadOriginConfig } from '../../origin/config.ts'
import { Fixture } from './utils.ts'

const fx = new Fixture()
afterEach(() => fx.cleanup())

describe('origin configuration', () => {
  it('layers defaults < config file < environment < flags, and freezes the result', async () => {
    const file = join(await fx.dir(), 'origin.json')
    await writeFile(file, JSON.stringify({ port: 9000, data: '/srv/origin', chunkSize: 2097152, log: true }))
    const config = await loadOriginConfig(
      { port: '9100' },
      { DANDELION_ORIGIN_PORT: '9050', DANDELION_ORIGIN_DATA: '/env' },
      file,
    )
    expect(config).toMatchObject({
      port: 9100,
      data: '/env',
      chunkSize: 2097152,
      log: true,
      host: '127.0.0.1',
    })
    expect(Object.isFrozen(config)).toBe(true)
  })

  it('rejects unknown keys and bad values, naming each', async () => {
    const file = join(await fx.dir(), 'origin.json')
    await writeFile(file, JSON.stringify({ prot: 9000, chunkSize: 1000 }))
    const err = await loadOriginConfig({}, {}, file).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(InvalidConfigError)
    expect((err as Error).message).toContain('unknown setting "prot"')
    expect((err as Error).message).toContain('chunkSize')
    await expect(loadOriginConfig({}, {}, join(file, 'missing'))).rejects.toThrow(/cannot read config file/)
  })
})
