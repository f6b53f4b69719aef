/**
 * Holds many werift receivers for the benchmark. Most are "light": once connected, SRTP decrypt
 * is replaced by a stub that strips the auth tag (headers are in the clear, so sequence numbers
 * still count) to leave the CPU to the SFU, as in the baseline note. "Probe" receivers decrypt
 * fully and read the publisher's send-time stamp for the forwarding delay.
 */
import { type Subscription, subscribe } from '../../rtc/client/media.ts'
import { SignalingClient } from '../../rtc/signaling/client.ts'

interface Rx {
  sig: SignalingClient
  sub: Subscription | undefined
  probe: boolean
  firstMediaMs: number | undefined
  mark: { packets: number; expected: number }
}

const rxs: Rx[] = []
let delays: number[] = []

function expected(sub: Subscription): number {
  return sub.tracks.reduce((a, t) => a + (t.maxSeq < 0 ? 0 : t.maxSeq - t.firstSeq + 1), 0)
}

function lighten(sub: Subscription): void {
  const dtls = sub.pc.getTransceivers()[0]?.dtlsTransport as unknown as {
    srtp?: { decrypt: (b: Buffer) => Buffer; remoteContext: { rtpAuthTagLength: number } }
  }
  const srtp = dtls?.srtp
  if (srtp === undefined) return
  const tag = srtp.remoteContext.rtpAuthTagLength
  srtp.decrypt = (b: Buffer) => b.subarray(0, b.length - tag)
}

async function join(url: string, token: string, probe: boolean): Promise<void> {
  const sig = new SignalingClient({ url, token, reconnect: false })
  const rx: Rx = { sig, sub: undefined, probe, firstMediaMs: undefined, mark: { packets: 0, expected: 0 } }
  rxs.push(rx)
  await sig.connect()
  const sub = await subscribe(sig, { loopback: true })
  rx.sub = sub
  if (!probe) lighten(sub)
  sub.onPacket((kind, payload) => {
    if (rx.firstMediaMs === undefined && kind === 'video')
      rx.firstMediaMs = performance.timeOrigin + performance.now()
    if (probe && payload.length >= 9)
      delays.push(performance.timeOrigin + performance.now() - payload.readDoubleLE(1))
  })
}

process.on('message', async (m: { op: string; url?: string; tokens?: string[]; probes?: number }) => {
  if (m.op === 'join') {
    const start = rxs.length
    const results = await Promise.allSettled(
      m.tokens!.map((t, i) => join(m.url!, t, start + i < (m.probes ?? 0))),
    )
    const failed = results.filter((r) => r.status === 'rejected').length
    process.send!({ op: 'joined', failed })
  } else if (m.op === 'media') {
    const times = rxs.map((r) => r.firstMediaMs)
    process.send!({ op: 'media', times })
  } else if (m.op === 'mark') {
    for (const r of rxs) if (r.sub) r.mark = { packets: r.sub.packets(), expected: expected(r.sub) }
    delays = []
    process.send!({ op: 'marked' })
  } else if (m.op === 'measure') {
    const losses = rxs.map((r) => {
      if (!r.sub) return 1
      const got = r.sub.packets() - r.mark.packets
      const exp = expected(r.sub) - r.mark.expected
      return exp <= 0 ? 1 : Math.max(0, 1 - got / exp)
    })
    const received = rxs.reduce((a, r) => a + (r.sub ? r.sub.packets() - r.mark.packets : 0), 0)
    process.send!({ op: 'measured', losses, received, delays })
  } else if (m.op === 'close') {
    await Promise.all(rxs.map((r) => r.sub?.close()))
    for (const r of rxs) r.sig.close()
    process.exit(0)
  }
})
process.send!({ op: 'ready' })
