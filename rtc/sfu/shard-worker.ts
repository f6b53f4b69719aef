/** Entry of a shard worker thread: a {@link SubscriberHub} driven by messages from the SFU. */
import { parentPort, workerData } from 'node:worker_threads'
import { RtcError } from '../errors.ts'
import type { ShardReply, ShardRequest } from './shard.ts'
import { SubscriberHub } from './subscriber-hub.ts'
import type { SubscriberHubInit } from './subscriber-hub-types.ts'

const port = parentPort!
const post = (m: ShardReply): void => port.postMessage(m)

const hub = new SubscriberHub(
  {
    offer: (room, user, sdp) => post({ ev: 'offer', room, user, sdp }),
    keyframe: (trackId) => post({ ev: 'keyframe', trackId }),
  },
  workerData as SubscriberHubInit,
)

/** Requests under way that their caller may abort, by id. */
const aborts = new Map<number, AbortController>()

async function run(m: Extract<ShardRequest, { id: number }>, signal: AbortSignal): Promise<unknown> {
  switch (m.op) {
    case 'subscribe':
      return hub.subscribe(m.room, m.user, { signal })
    case 'leave':
      return hub.leave(m.room, m.user)
    case 'answer':
      return hub.answer(m.room, m.user, m.sdp)
    case 'stats':
      return hub.stats(m.peek)
    case 'close':
      return hub.close()
  }
}

port.on('message', (m: ShardRequest) => {
  if (m.op === 'rtp') {
    hub.rtp(m.trackId, Buffer.from(m.buf.buffer, m.buf.byteOffset, m.buf.byteLength), m.at)
    return
  }
  if (m.op === 'addTrack') {
    hub.addTrack(m.info)
    return
  }
  if (m.op === 'removeTrack') {
    hub.removeTrack(m.trackId)
    return
  }
  if (m.op === 'abort') {
    aborts.get(m.re)?.abort()
    return
  }
  const controller = new AbortController()
  aborts.set(m.id, controller)
  run(m, controller.signal)
    .then(
      (value) => post({ re: m.id, ok: true, value }),
      (err: unknown) =>
        post({
          re: m.id,
          ok: false,
          error: err instanceof Error ? err.message : String(err),
          code: err instanceof RtcError ? err.code : undefined,
        }),
    )
    .finally(() => aborts.delete(m.id))
})
