/** Serves the minimal web page (`rtc/web/`) next to the WebSocket endpoint. */
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { FastifyInstance } from 'fastify'

const webDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'web')

const FILES: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
}

/** Registers `GET /` and `GET /app.js`. Files are read once at start. */
export function registerWebPage(app: FastifyInstance): void {
  for (const [path, { file, type }] of Object.entries(FILES)) {
    let body: string
    try {
      body = readFileSync(join(webDir, file), 'utf8')
    } catch {
      continue
    }
    app.get(path, async (_req, reply) => reply.type(type).header('cache-control', 'no-store').send(body))
  }
}
