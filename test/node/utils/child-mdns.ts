/**
 * Run by `test/node/host/mdns.test.ts` inside a network namespace of its own, where only
 * a loopback interface exists (mDNS multicast then never leaves the machine). A campus
 * node holding a lesson and two devices that know nothing of it (no bootstrap, no DHT, no
 * origin) start with mDNS on; the devices fetch the lesson. A node without mDNS tries the
 * same, as the control. Prints one JSON line with what happened.
 */
import { createNode } from '../../../node/index.ts'
import { addContent, originKey, randomContent, readAll } from './harness.ts'

const bytes = randomContent(3 * 1024 * 1024)
const holder = await createNode({ mdns: true, dht: false, campus: 'north' })
await holder.start()
const manifest = await addContent(holder.store, bytes, await originKey(), { name: 'lesson' })
await holder.seed(manifest)

const device = await createNode({ role: 'device', mdns: true, dht: false, campus: 'north' })
const otherDevice = await createNode({ role: 'device', mdns: true, dht: false, campus: 'north' })
const control = await createNode({ dht: false })
await device.start()
await otherDevice.start()
await control.start()

const result: Record<string, unknown> = {}
try {
  await device.fetch(manifest.cid, { signal: AbortSignal.timeout(20_000) })
  const got = await readAll(device, manifest)
  result.identical = Buffer.from(got).equals(Buffer.from(bytes))
  result.bytesFromPeers = device.status().totals.bytesFromPeers
  result.size = manifest.size
  await otherDevice.fetch(manifest.cid, { signal: AbortSignal.timeout(20_000) })
  result.otherDeviceBytesFromPeers = otherDevice.status().totals.bytesFromPeers
  // devices find the campus node, not each other
  result.devicesConnected = device.libp2p.getConnections(otherDevice.peerId).length
  result.peers = device
    .status()
    .swarms[0]?.peers.map((p) => ({ campus: p.campus, holder: p.peer === holder.peerId.toString() }))
} catch (err) {
  result.deviceError = (err as Error).message
}
try {
  await control.fetch(manifest.cid, { signal: AbortSignal.timeout(3_000) })
  result.controlError = 'none'
} catch (err) {
  result.controlError = (err as Error).name
}
result.controlConnections = control.libp2p.getConnections().length
await Promise.all([device.stop(), otherDevice.stop(), control.stop(), holder.stop()])
process.stdout.write(`${JSON.stringify(result)}\n`)
