// Minimal browser client for the rtc service: signaling over WebSocket, one receive connection
// (offered by the SFU) and one publish connection (offered by the browser). No trickle ICE: each
// side sends its description once gathering is complete.

const $ = (id) => document.getElementById(id)
const state = {
  ws: null,
  me: null,
  role: null,
  room: null,
  seq: 0,
  hands: [],
  stage: [],
  call: null,
  recv: null,
  pub: null,
  /** The camera's stream once started: published again after the server lost the session. */
  media: null,
  /** The session of the last welcome: another one means the server holds none of our media. */
  session: null,
  /** The server's room limits (hand and ring timeouts), from its welcome. */
  limits: null,
  /** STUN/TURN servers from the welcome: the SFU's own, so both ends find a path through NAT. */
  iceServers: [],
}
let nextControl = 0

function log(text) {
  const line = document.createElement('div')
  line.textContent = `${new Date().toISOString().slice(11, 19)} ${text}`
  $('log').prepend(line)
}

function send(msg) {
  if (state.ws?.readyState === WebSocket.OPEN) state.ws.send(JSON.stringify(msg))
}

function render() {
  $('room').textContent = state.room ?? ''
  $('who').textContent = `${state.me ?? ''} (${state.role ?? ''})`
  $('call').textContent = state.call ? `${state.call.callee}: ${state.call.status}` : 'none'
  $('stage').textContent = state.stage.join(', ') || '-'
  $('hands').textContent = state.hands.map((h) => h.user).join(', ') || '-'
  document.body.className = state.role ?? ''
}

function gathered(pc) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve()
  return new Promise((resolve) => {
    const done = () => {
      if (pc.iceGatheringState === 'complete') resolve()
    }
    pc.addEventListener('icegatheringstatechange', done)
    setTimeout(resolve, 2000)
  })
}

// The SFU reuses an m-line whose track ended for the next track of its kind: it goes `inactive`
// (the browser takes the track out of its stream), then `sendonly` again with an msid naming the
// new publisher, which fires `track` once more for the same mid. One video element per mid.
const videoByMid = new Map()

function showTrack({ track, streams, transceiver }) {
  if (track.kind !== 'video') return
  let v = videoByMid.get(transceiver.mid)
  if (v === undefined) {
    v = document.createElement('video')
    v.autoplay = true
    v.muted = true
    v.playsInline = true
    videoByMid.set(transceiver.mid, v)
    $('videos').append(v)
  }
  const stream = streams[0] ?? new MediaStream([track])
  // the msid stream id is the publisher, URI-encoded (rtc/sfu/subscriber-lines.ts)
  const user = streams[0] ? decodeURIComponent(streams[0].id) : ''
  v.dataset.user = user
  v.title = user
  v.hidden = false
  v.srcObject = stream
  stream.onremovetrack = () => {
    if (v.srcObject === stream) v.hidden = true
  }
}

async function onSubscribeOffer(sdp) {
  if (state.recv === null) {
    state.recv = new RTCPeerConnection({ iceServers: state.iceServers })
    state.recv.ontrack = showTrack
  }
  await state.recv.setRemoteDescription({ type: 'offer', sdp })
  await state.recv.setLocalDescription(await state.recv.createAnswer())
  await gathered(state.recv)
  send({ type: 'subscribe-answer', sdp: state.recv.localDescription.sdp })
}

/** Publishes the camera's stream on a new connection (the first time, or after a rejoin). */
async function publishMedia(media) {
  const pc = new RTCPeerConnection({ iceServers: state.iceServers })
  for (const track of media.getTracks()) pc.addTransceiver(track, { direction: 'sendonly' })
  await pc.setLocalDescription(await pc.createOffer())
  await gathered(pc)
  state.pub = pc
  send({ type: 'publish', sdp: pc.localDescription.sdp })
}

async function startCamera() {
  const media = await navigator.mediaDevices.getUserMedia({ video: true, audio: true })
  state.media = media
  await publishMedia(media)
  const v = document.createElement('video')
  v.autoplay = true
  v.muted = true
  v.srcObject = media
  $('videos').prepend(v)
}

// Calls in these states are over (rtc/room/types.ts TERMINAL_CALL).
const TERMINAL_CALL = ['rejected', 'timeout', 'cancelled', 'ended']

// The page keeps hands, stage and call as rtc/room/reducer.ts does: without `leave` and `tick`
// a departed student's or timed-out hand stayed first in the queue, so "Accept first hand" was
// refused for ever and no later hand could be taken; a call that timed out showed as ringing.
function applyEvent(e) {
  switch (e.type) {
    case 'leave': {
      state.hands = state.hands.filter((h) => h.user !== e.user)
      state.stage = state.stage.filter((u) => u !== e.user)
      const call = state.call
      if (
        call &&
        (call.caller === e.user || call.callee === e.user) &&
        !TERMINAL_CALL.includes(call.status)
      ) {
        const ended = call.status === 'accepted' || call.status === 'in-call'
        call.status = ended ? 'ended' : call.caller === e.user ? 'cancelled' : 'rejected'
      }
      break
    }
    case 'tick': {
      const call = state.call
      if (call && (call.status === 'initiating' || call.status === 'ringing') && e.at >= call.ringDeadline)
        call.status = 'timeout'
      if (state.limits)
        state.hands = state.hands.filter((h) => e.at - h.raisedAt < state.limits.handTimeoutMs)
      break
    }
    case 'call.initiate':
      state.call = {
        id: e.callId,
        caller: e.by,
        callee: e.callee,
        status: 'initiating',
        ringDeadline: e.at + state.limits.ringTimeoutMs,
      }
      if (e.callee === state.me) send({ type: 'action', action: 'call.ringing', callId: e.callId })
      break
    case 'call.ringing':
    case 'call.accept':
    case 'call.reject':
    case 'call.cancel':
    case 'call.connected':
    case 'call.end': {
      const map = { 'call.ringing': 'ringing', 'call.accept': 'accepted', 'call.reject': 'rejected' }
      const more = { 'call.cancel': 'cancelled', 'call.connected': 'in-call', 'call.end': 'ended' }
      if (state.call) state.call.status = map[e.type] ?? more[e.type]
      break
    }
    case 'hand.raise':
      state.hands.push({ user: e.by, raisedAt: e.at })
      break
    case 'hand.lower':
      state.hands = state.hands.filter((h) => h.user !== e.by)
      break
    case 'hand.accept':
    case 'stage.invite':
      state.hands = state.hands.filter((h) => h.user !== e.user)
      if (!state.stage.includes(e.user)) state.stage.push(e.user)
      break
    case 'hand.dismiss':
      state.hands = state.hands.filter((h) => h.user !== e.user)
      break
    case 'stage.remove':
      state.stage = state.stage.filter((u) => u !== e.user)
      break
    case 'speaker':
      $('speaker').textContent = e.user ?? '-'
      break
  }
  render()
}

function onMessage(msg) {
  switch (msg.type) {
    case 'welcome': {
      // a new session, not ours resumed: the server restarted (or dropped us after the grace
      // period) and holds none of our media; the old connections would take ICE's 30 s to fail
      const rejoined = state.session !== null && msg.session !== state.session
      if (rejoined) {
        state.recv?.close()
        state.recv = null
        state.pub?.close()
        state.pub = null
        for (const v of videoByMid.values()) v.remove()
        videoByMid.clear()
      }
      state.session = msg.session
      state.me = msg.user
      state.role = msg.role
      state.room = msg.state.id
      state.seq = msg.seq
      state.limits = msg.limits
      state.iceServers = msg.iceServers ?? []
      if (!msg.resumed) {
        // a fresh snapshot; on resume the missed events follow instead
        state.hands = [...msg.state.hands]
        state.stage = [...msg.state.stage]
        state.call = msg.state.call
      }
      render()
      log(msg.resumed ? `resumed at event ${msg.seq}` : `joined as ${msg.user}`)
      // media outlives the socket: only the first welcome (or a rejoin) opens the receive connection
      if (state.recv === null) send({ type: 'subscribe' })
      if (rejoined && state.media !== null)
        publishMedia(state.media).catch((err) => log(`publishing again failed: ${err}`))
      break
    }
    case 'ice-servers':
      // TURN credentials minted afresh before the welcome's expire: for connections made from now on
      state.iceServers = msg.iceServers ?? []
      break
    case 'event':
      if (msg.seq <= state.seq) return
      state.seq = msg.seq
      applyEvent(msg.event)
      log(`event ${msg.event.type}`)
      break
    case 'subscribe-offer':
      onSubscribeOffer(msg.sdp).catch((err) => log(`receive failed: ${err}`))
      break
    case 'publish-answer':
      state.pub?.setRemoteDescription({ type: 'answer', sdp: msg.sdp })
      break
    case 'control':
      // a browser "lamp" applies what it can and acknowledges
      send({ type: 'control-ack', id: msg.id, ok: msg.command.kind !== 'capture-photo' })
      log(`control ${msg.command.kind}`)
      break
    case 'control-ack':
      log(`control ${msg.id}: ${msg.ok ? 'ok' : msg.error}${msg.result?.url ? ` ${msg.result.url}` : ''}`)
      break
    case 'control-progress':
      log(`control ${msg.id}: the lamp is still at it (uploading)`)
      break
    case 'error':
      log(`error ${msg.code}: ${msg.message}`)
      break
  }
}

function join() {
  const token = $('token').value.trim()
  const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`)
  state.ws = ws
  ws.onopen = () => {
    const hello = { type: 'hello', token }
    if (state.session) hello.resume = { session: state.session, seq: state.seq }
    ws.send(JSON.stringify(hello))
  }
  ws.onmessage = (e) => onMessage(JSON.parse(e.data))
  ws.onclose = (e) => {
    log(`closed ${e.code} ${e.reason}`)
    // codes >= 4400 are refusals (bad token, full room): do not retry those
    if (state.ws === ws && e.code < 4400 && state.session) setTimeout(join, 1000)
  }
}

function control(command) {
  const target = $('target').value.trim()
  send({ type: 'control', id: `web-${Date.now().toString(36)}-${nextControl++}`, target, command })
}

$('join').onclick = join
$('camera').onclick = () => startCamera().catch((err) => log(`camera failed: ${err}`))
$('raise').onclick = () => send({ type: 'action', action: 'hand.raise' })
$('accept-call').onclick = () => {
  if (state.call) send({ type: 'action', action: 'call.accept', callId: state.call.id })
}
$('call-btn').onclick = () =>
  send({
    type: 'action',
    action: 'call.initiate',
    callId: `call-${Date.now().toString(36)}`,
    callee: $('target').value,
  })
$('invite').onclick = () => send({ type: 'action', action: 'stage.invite', user: $('target').value })
$('accept-hand').onclick = () => {
  if (state.hands[0]) send({ type: 'action', action: 'hand.accept', user: state.hands[0].user })
}
$('screen-wb').onclick = () => control({ kind: 'screen', screen: 'whiteboard' })
$('screen-video').onclick = () => control({ kind: 'screen', screen: 'video' })
$('photo').onclick = () => control({ kind: 'capture-photo' })

/** For tests: frames decoded so far on the receive connection. */
window.framesDecoded = async () => {
  if (!state.recv) return 0
  let frames = 0
  const stats = await state.recv.getStats()
  stats.forEach((s) => {
    if (s.type === 'inbound-rtp' && s.kind === 'video') frames += s.framesDecoded ?? 0
  })
  return frames
}

const fromUrl = new URLSearchParams(location.hash.slice(1)).get('token')
if (fromUrl) {
  $('token').value = fromUrl
  join()
}
