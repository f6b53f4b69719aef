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

  it('reads a blank variable as unset, as every service does: the file or the default applies', async () => {
    const file = join(await fx.dir(), 'origin.json')
    await writeFile(file, JSON.stringify({ trackerUrl: 'http://127.0.0.1:7070' }))
    const blank = {
      DANDELION_ORIGIN_PORT: '',
      DANDELION_ORIGIN_DATA: '',
      DANDELION_ORIGIN_TOKEN: '',
      DANDELION_ORIGIN_FSYNC: '',
      DANDELION_ORIGIN_P2P_LISTEN: '',
      DANDELION_ORIGIN_GRANT_ISSUERS: '',
    }
    // the defaults; no token: one is generated and kept in the data directory, as without the line
    const config = await loadOriginConfig({}, blank)
    expect(config).toEqual(await loadOriginConfig({}, {}))
    expect(config.token).toBeUndefined()
    // a tracker URL needs its token: left blank, the origin refuses to start, naming it
    await expect(
      loadOriginConfig({}, { ...blank, DANDELION_ORIGIN_TRACKER_TOKEN: '' }, file),
    ).rejects.toThrow(/needs the tracker's admin token too \(--tracker-token, DANDELION_ORIGIN_TRACKER_TOKEN/)
  })
})
