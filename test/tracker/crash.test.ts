/**
 * A tracker process killed with SIGKILL mid-rollout and restarted on the same data
 * directory completes the rollout; node-side applied logs show every command applied
 * exactly once and none lost. Real origin, real nodes (`createNode`) fetching real chunks.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { afterEach, describe, expect, it } from 'vitest'
import { type AgentContentApi, nodeContentApi } from '../../node/agent/index.ts'
import { createNode, type DandelionNode } from '../../node/index.ts'
import { createOrigin, type Origin } from '../../origin/index.ts'
import { registerWithTracker } from '../../origin/tracker-registration.ts'
import { ADMIN, ENROLL, Harness, until } from './harness.ts'

const fixture = join(fileURLToPath(new URL('.', import.meta.url)), 'fixtures', 'tracker-proc.ts')
const h = new Harness()
const procs: ChildProcess[] = []
const nodes: DandelionNode[] = []
let origin: Origin | undefined
let stopRegistration: (() => void) | undefined
afterEach(async () => {
  stopRegistration?.()
  for (const p of procs.splice(0)) if (p.exitCode === null) p.kill('SIGKILL')
  await h.teardown()
  await Promise.allSettled(nodes.splice(0).map((n) => n.stop()))
  await origin?.close()
})

/** The real node's content API, with fetches held until `gate` resolves. */
function held(inner: AgentContentApi, gate: Promise<void>): AgentContentApi {
  return {
    ...inner,
    fetch: async (cid, options) => {
      await gate
      return inner.fetch(cid, options)
    },
  }
}

async function freePort(): Promise<number> {
  const s = createServer()
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
  const port = (s.address() as { port: number }).port
  await new Promise((r) => s.close(r))
  return port
}

async function spawnTracker(
  dataDir: string,
  port: number,
): Promise<{ proc: ChildProcess; url: string; channelUrl: string }> {
  const proc = spawn(
    process.execPath,
    [
      fixture,
      '--data-dir',
      dataDir,
      '--port',
      String(port),
      '--admin-token',
      ADMIN,
      '--enrollment-token',
      ENROLL,
      '--retransmit-ms',
      '200',
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  )
  procs.push(proc)
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: proc.stdout! }).once('line', resolve)
    proc.once('exit', (code) => reject(new Error(`tracker exited ${code}`)))
  })
  return { proc, ...JSON.parse(line) }
}

// biome-ignore lint/suspicious/noExplicitAny: test helper returning whatever JSON the API answers
async function api(url: string, method: string, path: string, body?: unknown): Promise<any> {
  const res = await fetch(`${url}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  if (!res.ok) throw new Error(`${method} ${path} → ${res.status} ${await res.text()}`)
  return res.json()
}

describe('tracker crash', () => {
  it('completes a rollout after SIGKILL and restart, no command lost or applied twice', async () => {
    const dataDir = await h.tmp('tracker-crash-')
    const port = await freePort()
    let t = await spawnTracker(dataDir, port)
    await api(t.url, 'POST', '/cities', { id: 'bj', name: 'Beijing' })
    await api(t.url, 'POST', '/cities', { id: 'sh', name: 'Shanghai' })
    for (const [id, city] of [
      ['bj-1', 'bj'],
      ['bj-2', 'bj'],
      ['sh-1', 'sh'],
    ])
      await api(t.url, 'POST', '/campuses', { id, city, name: id })
    origin = await createOrigin({
      dataDir: await h.tmp('crash-origin-'),
      token: 'origin-token',
      port: 0,
      chunkSize: 256 * 1024,
    })
    stopRegistration = registerWithTracker(origin, { trackerUrl: t.url, token: ADMIN })
    const file = join(await h.tmp('crash-file-'), 'lesson.mp4')
    const bytes = randomBytes(700 * 1024)
    await writeFile(file, bytes)
    const v1 = await origin.ingestFile(file, { name: 'lesson', type: 'video' })
    await until(
      async () => (await api(t.url, 'GET', '/resources/lesson/versions').catch(() => [])).length === 1,
      'registered by the origin',
    )
    await api(t.url, 'POST', '/resources/lesson/versions/1/approve')

    // fetches are held until the tracker is dead, so commands are in flight at the kill
    const gate = Promise.withResolvers<void>()
    const agents = await Promise.all(
      Array.from({ length: 10 }, async (_, i) => {
        const key = await generateKeyPair('Ed25519')
        const campus = ['bj-1', 'bj-2', 'sh-1'][i % 3]
        const node = await createNode({
          privateKey: key,
          dataDir: await h.tmp('crash-node-'),
          campus,
          originUrl: origin!.url,
          trustedOrigins: [origin!.publicKey],
          dht: false,
          fallbackIdleMs: 200,
        })
        await node.start()
        nodes.push(node)
        const content = held(nodeContentApi(node), gate.promise)
        return {
          node,
          ...(await h.agent([t.channelUrl], `n${i}`, { campus, dir: await h.tmp(), key, content })),
        }
      }),
    )
    await until(() => agents.every((a) => a.agent.connected), 'agents connected')
    const rel = await api(t.url, 'POST', '/releases', {
      resource: 'lesson',
      version: 1,
      targets: { cities: ['bj', 'sh'] },
      stages: [{ percent: 30 }, { percent: 60 }, { percent: 100 }],
    })
    await until(
      async () => (await api(t.url, 'GET', `/releases/${rel.id}`)).counts.fetching === 3,
      'canaries ACKed',
    )

    t.proc.kill('SIGKILL')
    await new Promise((r) => t.proc.once('exit', r))
    gate.resolve() // canaries finish while the tracker is down: their outcomes wait for the replay
    t = await spawnTracker(dataDir, port)

    await until(
      async () => (await api(t.url, 'GET', `/releases/${rel.id}`)).release.status === 'completed',
      'completed',
      45_000,
    )
    const status = await api(t.url, 'GET', `/releases/${rel.id}`)
    expect(status.counts.active).toBe(10)
    const logs = await Promise.all(agents.map((a) => a.agent.journal.applied()))
    for (const log of logs)
      expect(log.map((l) => `${l.op} ${l.manifestCid}`)).toEqual([`place ${v1.manifestCid}`])
    const ids = logs.flat().map((l) => l.id)
    expect(new Set(ids).size).toBe(10)
    // and the content really is on every node, active under its name
    for (const a of agents) {
      expect(await a.node.names.get('lesson')).toBe(v1.manifestCid)
      expect(a.node.store.usage().bytes).toBeGreaterThanOrEqual(bytes.length)
    }
  })
})
