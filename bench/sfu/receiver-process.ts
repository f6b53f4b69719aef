/**
 * Holds many werift receivers for the benchmark. Most are "light": once connected, SRTP decrypt
 * is replaced by a stub that strips the auth tag (headers are in the clear, so sequence numbers
 * still count) to leave the CPU to the SFU, as in the baseline note. "Probe" receivers decrypt
 * fully and read the publisher's send-time stamp for the forwarding delay.
 */
import { SrtpAuthenticationError } from 'werift'
import { type Subscription, subscribe } from '../../rtc/client/media.ts'
import { VP8_PT } from '../../rtc/sfu/peer-config.ts'
import { SignalingClient } from '../../rtc/signaling/client.ts'

interface Counter {
  packets: number
  firstSeq: number
  maxSeq: number
}

interface Rx {
  sig: SignalingClient
  sub: Subscription | undefined
  probe: boolean
  firstMediaMs: number | undefined
  mark: { packets: number; expected: number }
  /** Light receivers count raw packets by SSRC. */
  raw: Map<number, Counter> | undefined
}

const rxs: Rx[] = []
let delays: number[] = []
let markCpu = 0
process.on('disconnect', () => process.exit(0))

function counts(r: Rx): { packets: number; expected: number } {
  const list: Array<{ packets: number; firstSeq: number; maxSeq: number }> = r.raw
    ? [...r.raw.values()]
    : (r.sub?.tracks ?? [])
  let packets = 0
  let expected = 0
  for (const t of list) {
    packets += t.packets
    if (t.maxSeq >= 0) expected += t.maxSeq - t.firstSeq + 1
  }
  return { packets, expected }
}

/**
 * Light receivers: SRTP headers are in the clear, so count sequence numbers straight off the
 * socket and make werift drop the packet before decrypting or parsing it.
 */
function lighten(rx: Rx, sub: Subscription): void {
  const dtls = sub.pc.getTransceivers()[0]?.dtlsTransport as unknown as {
    srtp: { decrypt: (b: Buffer) => Buffer }
    iceTransport: { connection: { onData: { subscribe(fn: (d: Buffer) => void): void } } }
  }
  const raw = new Map<number, Counter>()
  rx.raw = raw
  dtls.iceTransport.connection.onData.subscribe((d) => {
    if (d.length < 12 || d[0] < 128 || d[0] > 191 || (d[1] >= 192 && d[1] <= 223)) return
    const ssrc = d.readUInt32BE(8)
    const seq = d.readUInt16BE(2)
    let c = raw.get(ssrc)
    if (c === undefined) {
      c = { packets: 0, firstSeq: seq, maxSeq: seq }
      raw.set(ssrc, c)
    }
    const delta = ((seq - (c.maxSeq & 0xffff) + 0x8000) & 0xffff) - 0x8000
    if (delta > 0) c.maxSeq += delta
    c.packets++
    if (rx.firstMediaMs === undefined && (d[1] & 0x7f) === VP8_PT) {
      rx.firstMediaMs = performance.timeOrigin + performance.now()
    }
  })
  dtls.srtp.decrypt = () => {
    throw new SrtpAuthenticationError('not decrypted by a light receiver')
  }
}

async function join(url: string, token: string, probe: boolean): Promise<void> {
  const sig = new SignalingClient({ url, token, reconnect: false })
  const rx: Rx = {
    sig,
    sub: undefined,
    probe,
    firstMediaMs: undefined,
    mark: { packets: 0, expected: 0 },
    raw: undefined,
  }
  rxs.push(rx)
  await sig.connect()
  const sub = await subscribe(sig, { loopback: true })
  rx.sub = sub
  if (!probe) lighten(rx, sub)
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
    const rejected = results.filter((r) => r.status === 'rejected')
    const reasons = [
      ...new Set(rejected.map((r) => String((r as PromiseRejectedResult).reason?.message ?? r))),
    ]
    process.send!({ op: 'joined', failed: rejected.length, reasons: reasons.slice(0, 3) })
  } else if (m.op === 'media') {
    const times = rxs.map((r) => r.firstMediaMs)
    process.send!({ op: 'media', times })
  } else if (m.op === 'mark') {
    for (const r of rxs) r.mark = counts(r)
    const cpu = process.cpuUsage()
    markCpu = cpu.user + cpu.system
    delays = []
    process.send!({ op: 'marked' })
  } else if (m.op === 'measure') {
    let received = 0
    const losses = rxs.map((r) => {
      if (!r.sub) return 1
      const now = counts(r)
      const got = now.packets - r.mark.packets
      const exp = now.expected - r.mark.expected
      received += got
      return exp <= 0 ? 1 : Math.max(0, 1 - got / exp)
    })
    const cpu = process.cpuUsage()
    process.send!({ op: 'measured', losses, received, delays, cpuUs: cpu.user + cpu.system - markCpu })
  } else if (m.op === 'close') {
    await Promise.all(rxs.map((r) => r.sub?.close()))
    for (const r of rxs) r.sig.close()
    process.exit(0)
  }
})
process.send!({ op: 'ready' })
