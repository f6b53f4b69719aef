/**
 * mDNS discovery end to end. The nodes run in a child process inside a network namespace
 * of its own (`unshare -rn`, loopback only), so the multicast queries and answers stay on
 * that namespace's loopback and never reach a real LAN.
 */
import { execFile, execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'

const child = fileURLToPath(new URL('../utils/child-mdns.ts', import.meta.url))
const run = promisify(execFile)
/** Runs `argv` in a new user + network namespace with its loopback up. */
const inNetns = ['-rn', 'sh', '-c', 'ip link set lo up && exec "$0" "$@"']

const canUnshare = ((): boolean => {
  try {
    execFileSync('unshare', [...inNetns, 'true'], { stdio: 'ignore', timeout: 5_000 })
    return true
  } catch {
    return false
  }
})()
if (!canUnshare)
  process.stderr.write(
    'mdns.test.ts: skipped, this machine cannot create a network namespace (unshare -rn)\n',
  )

describe.skipIf(!canUnshare)('mDNS discovery on a LAN', () => {
  it('a device with no bootstrap, DHT or origin finds the campus node by mDNS and fetches from it; without mDNS nothing is found', async () => {
    const { stdout } = await run('unshare', [...inNetns, process.execPath, child], { timeout: 60_000 })
    const result = JSON.parse(stdout.trim().split('\n').at(-1) as string) as {
      identical?: boolean
      bytesFromPeers?: number
      size?: number
      peers?: Array<{ campus?: string; holder: boolean }>
      deviceError?: string
      controlError?: string
      controlConnections?: number
    }
    expect(result.deviceError).toBeUndefined()
    expect(result.identical).toBe(true)
    expect(result.bytesFromPeers).toBe(result.size)
    // the session's hello carried the holder's campus
    expect(result.peers).toEqual([{ campus: 'north', holder: true }])
    expect(result.controlError).toBe('TimeoutError')
    expect(result.controlConnections).toBe(0)
  })
})
