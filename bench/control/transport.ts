/**
 * Measures what the command channel's transport costs the tracker: `n` libp2p
 * connections (noise handshake, yamux) to a bare libp2p host vs `n` WebSocket channels
 * (ed25519 challenge signature) to the tracker. Host RSS after connecting and wall time.
 */
import { fork, spawn } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

const here = fileURLToPath(new URL('.', import.meta.url))
const rssMb = async (pid: number): Promise<number> =>
  Math.round(Number(/VmRSS:\s+(\d+) kB/.exec(await readFile(`/proc/${pid}/status`, 'utf8'))?.[1]) / 1024)
const firstLine = (p: ReturnType<typeof spawn>): Promise<string> =>
  new Promise((resolve) => createInterface({ input: p.stdout! }).once('line', resolve))
const ready = (c: ReturnType<typeof fork>): Promise<{ connected: number; seconds: number }> =>
  new Promise((resolve) => c.once('message', (m) => resolve(m as { connected: number; seconds: number })))

/** Result of one transport. */
export interface TransportFigures {
  connected: number
  connect_s: number
  host_rss_idle_mb: number
  host_rss_connected_mb: number
}

/** libp2p: clients in `procs` processes dial one host. */
export async function measureLibp2p(n: number, procs = 2): Promise<TransportFigures> {
  const host = spawn(process.execPath, [join(here, 'libp2p-host.ts')], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const { addr } = JSON.parse(await firstLine(host))
  const idle = await rssMb(host.pid!)
  const t0 = performance.now()
  const clients = Array.from({ length: procs }, () =>
    fork(join(here, 'libp2p-clients.ts'), [addr, String(Math.ceil(n / procs))], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    }),
  )
  const r = await Promise.all(clients.map(ready))
  const seconds = (performance.now() - t0) / 1000
  const connectedRss = await rssMb(host.pid!)
  for (const c of clients) c.send('exit')
  host.kill('SIGTERM')
  return {
    connected: r.reduce((a, x) => a + x.connected, 0),
    connect_s: seconds,
    host_rss_idle_mb: idle,
    host_rss_connected_mb: connectedRss,
  }
}

/** WebSocket channel: light clients authenticate to a tracker. */
export async function measureWebSocket(n: number, procs = 2): Promise<TransportFigures> {
  const dataDir = await mkdtemp(join(tmpdir(), 'bench-transport-'))
  const tracker = spawn(
    process.execPath,
    [
      join(here, 'tracker-proc.ts'),
      '--data-dir',
      dataDir,
      '--port',
      '0',
      '--admin-token',
      'transport-admin',
      '--enrollment-token',
      'transport-enroll',
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  )
  const { url, channelUrl } = JSON.parse(await firstLine(tracker))
  const headers = { authorization: 'Bearer transport-admin', 'content-type': 'application/json' }
  await fetch(`${url}/api/v1/cities`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ id: 'c', name: 'c' }),
  })
  for (let i = 0; i < 10; i++)
    await fetch(`${url}/api/v1/campuses`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ id: `campus-${i}`, city: 'c', name: 'c' }),
    })
  const idle = await rssMb(tracker.pid!)
  const t0 = performance.now()
  const per = Math.ceil(n / procs)
  const clients = Array.from({ length: procs }, (_, p) =>
    fork(join(here, 'clients.ts'), [channelUrl, String(per), String(p * per), 'transport-enroll'], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    }),
  )
  const r = await Promise.all(clients.map(ready))
  const seconds = (performance.now() - t0) / 1000
  const connectedRss = await rssMb(tracker.pid!)
  for (const c of clients) c.send({ type: 'exit' })
  tracker.kill('SIGTERM')
  await new Promise((res) => tracker.once('exit', res))
  await rm(dataDir, { recursive: true, force: true })
  return {
    connected: r.reduce((a, x) => a + x.connected, 0),
    connect_s: seconds,
    host_rss_idle_mb: idle,
    host_rss_connected_mb: connectedRss,
  }
}
