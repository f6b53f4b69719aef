/** `dandelion remove-version`: what the person who ran it reads, on success and on each refusal. */
import { randomBytes } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { runRemoveVersionCommand } from '../../origin/cli-remove.ts'
import { captureOutput } from '../tracker/cli-output.ts'
import { Fixture, TOKEN } from './utils.ts'

const fx = new Fixture()
afterEach(() => fx.cleanup())

const CHUNK = 256 * 1024

describe('dandelion remove-version', () => {
  it('says what it deleted and what it kept', async () => {
    const origin = await fx.origin()
    const path = join(await fx.dir(), 'lesson.mp4')
    const bytes = randomBytes(4 * CHUNK)
    await writeFile(path, bytes)
    const v1 = await origin.ingestFile(path, { name: 'lesson', type: 'video' })
    await writeFile(path, Buffer.concat([bytes.subarray(0, 3 * CHUNK), randomBytes(CHUNK)]))
    await origin.ingestFile(path, { name: 'lesson', type: 'video' })

    const { out } = await captureOutput(() =>
      runRemoveVersionCommand(['lesson', '1', '--origin', `${origin.url}/`, '--token', TOKEN]),
    )
    expect(out).toBe(
      `removed lesson v1 (${v1.manifestCid}): 1 chunks deleted, 0.3 MiB freed; 3 kept (other versions or uploads hold them)\n`,
    )
    const again = runRemoveVersionCommand(['lesson', '1', '--origin', origin.url, '--token', TOKEN])
    await expect(again).rejects.toMatchObject({
      code: 'ERR_NOT_FOUND',
      message: 'lesson v1 was not removed: version 1 of "lesson" not found',
    })
    const json = await captureOutput(() =>
      runRemoveVersionCommand(['lesson', '2', '--origin', origin.url, '--token', TOKEN, '--json']),
    )
    expect(JSON.parse(json.out)).toMatchObject({ removed: { version: 2 }, chunksDeleted: 4, chunksKept: 0 })
  })

  it('refuses a wrong token, bad arguments and an origin that is not there, naming what to fix', async () => {
    const origin = await fx.origin()
    await expect(
      runRemoveVersionCommand(['lesson', '1', '--origin', origin.url, '--token', 'nope']),
    ).rejects.toMatchObject({
      code: 'ERR_FORBIDDEN',
      message: expect.stringContaining("use the origin's upload token"),
    })
    await expect(
      runRemoveVersionCommand(['lesson', '--origin', origin.url, '--token', TOKEN]),
    ).rejects.toMatchObject({
      code: 'ERR_INVALID_CONFIG',
      message: expect.stringContaining('give NAME and VERSION'),
    })
    await expect(
      runRemoveVersionCommand(['lesson', 'v2', '--origin', origin.url, '--token', TOKEN]),
    ).rejects.toMatchObject({ message: 'VERSION must be a whole number from 1, not "v2"' })
    await expect(runRemoveVersionCommand(['lesson', '1', '--origin', origin.url])).rejects.toMatchObject({
      message: expect.stringContaining('missing --token'),
    })
    const url = origin.url
    await origin.close()
    await expect(
      runRemoveVersionCommand(['lesson', '1', '--origin', url, '--token', TOKEN]),
    ).rejects.toMatchObject({
      code: 'ERR_ORIGIN_UNREACHABLE',
      message: expect.stringContaining(`cannot reach the origin at ${url}`),
    })
  })
})
