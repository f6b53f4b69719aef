/**
 * mDNS discovery end to end. The nodes run in a child process inside a network namespace
 * of its own (`unshare -rn`, or `-n` as root; loopback only), so the multicast queries and answers stay on
 * that namespace's loopback and never reach a real LAN.
 */
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { inNetns } from '../utils/netns.ts'

const child = fileURLToPath(new URL('../utils/child-mdns.ts', import.meta.url))
const run = promisify(execFile)
if (inNetns === undefined)
  process.stderr.write('mdns.test.ts: skipped, this machine cannot create a network namespace (unshare)\n')

describe.skipIf(inNetns === undefined)('mDNS discovery on a LAN', () => {
  it('devices with no bootstrap, DHT or origin find the campus node by mDNS and fetch from it, never each other; without mDNS nothing is found', async () => {
    const { stdout } = await run('unshare', [...(inNetns ?? []), process.execPath, child], {
      timeout: 60_000,
    })
    const result = JSON.parse(stdout.trim().split('\n').at(-1) as string) as {
      identical?: boolean
      bytesFromPeers?: number
      size?: number
      peers?: Array<{ campus?: string; holder: boolean }>
      deviceError?: string
      otherDeviceBytesFromPeers?: number
      devicesConnected?: number
      controlError?: string
      controlConnections?: number
    }
    expect(result.deviceError).toBeUndefined()
    expect(result.identical).toBe(true)
    expect(result.bytesFromPeers).toBe(result.size)
    // the session's hello carried the holder's campus
    expect(result.peers).toEqual([{ campus: 'north', holder: true }])
    expect(result.otherDeviceBytesFromPeers).toBe(result.size)
    // devices look for campus nodes and answer nobody: two lamps never connect to each other
    expect(result.devicesConnected).toBe(0)
    expect(result.controlError).toBe('TimeoutError')
    expect(result.controlConnections).toBe(0)
  })
})
