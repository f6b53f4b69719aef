/**
 * A TURN server's authentication on 127.0.0.1 for tests, as coturn does it with
 * `use-auth-secret` and `static-auth-secret` (draft-uberti-behave-turn-rest-00; RFC 5766 §6.2
 * and RFC 5389 §10.2 long-term credentials): an Allocate without credentials is challenged
 * (401 with REALM and NONCE); one with them is taken only if its username's expiry (the Unix
 * seconds before the first `:`) is still ahead, and its MESSAGE-INTEGRITY verifies with the key
 * MD5(username:realm:password) where password is base64(HMAC-SHA1(secret, username)). A taken
 * Allocate is answered with a relayed address (nothing is relayed: the tests need only the
 * allocation); every other authenticated request is answered with success, unauthenticated
 * ones with 401. STUN messages are read and written with werift's own codec.
 */
import { createHash, createHmac } from 'node:crypto'
import { createSocket } from 'node:dgram'
import { classes, Message, methods, parseMessage } from 'werift'

export interface TurnServer {
  /** `turn:127.0.0.1:<port>` */
  url: string
  /** Usernames of the Allocate requests taken. */
  allocated: string[]
  /** Usernames of the Allocate requests refused (expired, or a credential that does not verify). */
  refused: string[]
  close(): Promise<void>
}

/** The realm the server names in its challenges. */
export const TURN_REALM = 'dandelion.test'

export async function startTurnServer(secret: string): Promise<TurnServer> {
  const socket = createSocket('udp4')
  const server: TurnServer = {
    url: '',
    allocated: [],
    refused: [],
    close: () => new Promise((resolve) => socket.close(() => resolve())),
  }
  const reply = (m: Message, to: { port: number; address: string }): void => {
    socket.send(m.bytes, to.port, to.address)
  }
  const error = (req: Message, code: number, reason: string): Message =>
    new Message(req.messageMethod, classes.ERROR, req.transactionId)
      .setAttribute('ERROR-CODE', [code, reason])
      .setAttribute('REALM', TURN_REALM)
      .setAttribute('NONCE', Buffer.from('nonce-0123456789'))
  socket.on('message', (data, from) => {
    const req = parseMessage(data)
    if (req === undefined || req.messageClass !== classes.REQUEST) return
    const username = req.getAttributeValue('USERNAME') as string | undefined
    if (username === undefined) return reply(error(req, 401, 'Unauthorized'), from)
    const password = createHmac('sha1', secret).update(username).digest('base64')
    const key = createHash('md5').update(`${username}:${TURN_REALM}:${password}`).digest()
    const expiry = Number(username.split(':')[0])
    // a username whose time has passed is refused whatever its integrity (coturn: 401)
    const verified =
      Number.isInteger(expiry) && expiry > Date.now() / 1000 && parseMessage(data, key) !== undefined
    if (!verified) {
      if (req.messageMethod === methods.ALLOCATE) server.refused.push(username)
      return reply(error(req, 401, 'Unauthorized'), from)
    }
    const ok = new Message(req.messageMethod, classes.RESPONSE, req.transactionId)
    if (req.messageMethod === methods.ALLOCATE) {
      server.allocated.push(username)
      ok.setAttribute('XOR-RELAYED-ADDRESS', ['127.0.0.1', 40_000 + server.allocated.length])
        .setAttribute('XOR-MAPPED-ADDRESS', [from.address, from.port])
        .setAttribute('LIFETIME', 600)
    } else if (req.messageMethod === methods.REFRESH) ok.setAttribute('LIFETIME', 600)
    reply(ok.addMessageIntegrity(key), from)
  })
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()))
  server.url = `turn:127.0.0.1:${socket.address().port}`
  return server
}
