/** The benchmark's publisher: ~1 Mbit/s filler VP8 (30 fps × 3 × 1100 B) and Opus, send-time stamped. */
import { publish } from '../../rtc/client/media.ts'
import { RtpSource } from '../../rtc/client/rtp-source.ts'
import { SignalingClient } from '../../rtc/signaling/client.ts'

const [url, token] = process.argv.slice(2)
const sig = new SignalingClient({ url, token })
await sig.connect()
const pub = await publish(sig, { loopback: true })
const source = new RtpSource({
  video: pub.video,
  audio: pub.audio,
  audioLevelExtId: pub.audioLevelExtId,
  stamp: true,
})
pub.onKeyframeRequest(() => source.keyframe())
pub.pc.connectionStateChange.subscribe((state) => process.stderr.write(`publisher connection: ${state}\n`))
pub.pc.iceConnectionStateChange.subscribe((state) => process.stderr.write(`publisher ice: ${state}\n`))
source.start()
process.on('message', async (m: { op: string }) => {
  if (m.op === 'close') {
    source.stop()
    await pub.close()
    sig.close()
    process.exit(0)
  }
})
process.on('disconnect', () => process.exit(0))
process.send!({ op: 'ready' })
