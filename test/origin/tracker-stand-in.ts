/** A tracker stand-in on 127.0.0.1 for origin tests: each answer exactly when the test needs it. */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

/** A request the stand-in received. */
export interface Received {
  method: string
  url: string
  authorization?: string
}

/** How the stand-in answers; replaceable while it runs. */
export type Answer = (req: IncomingMessage, res: ServerResponse) => void

/** A running stand-in. */
export interface StandIn {
  url: string
  received: Received[]
  answer: Answer
  close(): Promise<void>
}

/** Starts a stand-in answering each request with `answer`, once its body has arrived. */
export async function standIn(answer: Answer): Promise<StandIn> {
  const received: Received[] = []
  let server: Server | undefined
  const stand: StandIn = {
    url: '',
    received,
    answer,
    async close() {
      server?.closeAllConnections()
      await new Promise((r) => server?.close(r))
    },
  }
  server = createServer((req, res) => {
    received.push({ method: req.method!, url: req.url!, authorization: req.headers.authorization })
    req.resume()
    req.on('end', () => stand.answer(req, res))
  })
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r))
  stand.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return stand
}

/** Answers with `status` and `body` as JSON, and `headers` if any. */
export function json(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers })
  res.end(JSON.stringify(body))
}

/** The stand-ins a test file starts, closed together after each test. */
export interface StandIns {
  /** Starts a stand-in (see {@link standIn}), closed by {@link closeAll}. */
  start(answer: Answer): Promise<StandIn>
  closeAll(): Promise<void>
}

/** Keeps the stand-ins a test file starts, for its `afterEach` to close. */
export function standIns(): StandIns {
  const running: StandIn[] = []
  return {
    async start(answer) {
      const s = await standIn(answer)
      running.push(s)
      return s
    },
    async closeAll() {
      for (const s of running.splice(0)) await s.close()
    },
  }
}
