/**
 * `dandelion enroll-token create|list|revoke`: the operator's client of the enrollment tokens
 * the tracker issues (`api/enrollment-token-routes.ts`), with the release client's settings
 * (`--tracker <url> --token <t>`, or `DANDELION_TRACKER_URL` / `DANDELION_ADMIN_TOKEN`). A
 * usage error exits 2 (see `runCommand` in `node/cli-main.ts`).
 */
import { parseArgs } from 'node:util'
import { InvalidConfigError } from '../node/errors.ts'
import { ADMIN_CLIENT_OPTIONS, adminTokenOf, wantsHelp } from './cli-admin.ts'
import { parseDuration } from './cli-release-args.ts'
import { apiBase, call } from './cli-release-client.ts'
import { MAX_ENROLLMENT_TOKEN_TTL_MS } from './constants.ts'
import type { EnrollmentTokenView } from './state/enrollment-tokens.ts'

const out = (s: string): void => {
  process.stdout.write(s + '\n')
}

export const ENROLL_TOKEN_USAGE = `Usage: dandelion enroll-token <command> [options]   (--tracker <url> --token <t> or DANDELION_TRACKER_URL / DANDELION_ADMIN_TOKEN)
  create [--campus <id>] [--ttl <7d|12h|…>] [--uses <n>] [--note <text>] [--json]
         issues a token a node gives as its --enroll-token at its first connection: for that
         campus only if --campus is given (the node is put in it), until --ttl has passed (7d
         unless given, at most 366d), for --uses nodes if given. The token is printed once:
         the tracker keeps only its hash
  list [--json]     the issued tokens, their state and uses (never the tokens)
  revoke <id>       it enrolls nothing more; the nodes it enrolled stay enrolled
  -h, --help        this help`

/** A whole number of seconds from `--ttl`, within what the tracker takes. */
function ttlSeconds(text: string): number {
  const ms = parseDuration(text)
  if (ms === undefined || ms < 1000 || ms > MAX_ENROLLMENT_TOKEN_TTL_MS)
    throw new InvalidConfigError(
      `--ttl ${JSON.stringify(text)}: a duration from 1s to 366d, such as 12h or 7d (a bare number is milliseconds)`,
    )
  return Math.floor(ms / 1000)
}

function uses(text: string): number {
  const n = /^\d+$/.test(text.trim()) ? Number(text) : Number.NaN
  if (!Number.isSafeInteger(n) || n < 1 || n > 100_000)
    throw new InvalidConfigError(`--uses ${JSON.stringify(text)}: a whole number of nodes from 1 to 100000`)
  return n
}

const when = (ms: number): string => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z')

/** One line per token: id, state, campus, uses, expiry, note. */
function printList(tokens: EnrollmentTokenView[]): void {
  if (tokens.length === 0) {
    out('no enrollment tokens issued (the tracker’s shared --enrollment-token still enrolls)')
    return
  }
  out(
    `${'id'.padEnd(18)}${'state'.padEnd(10)}${'campus'.padEnd(16)}${'uses'.padEnd(10)}${'expires'.padEnd(22)}note`,
  )
  for (const t of tokens) {
    const used = `${t.uses}/${t.maxUses ?? '∞'}`
    out(
      `${t.id.padEnd(18)}${t.state.padEnd(10)}${(t.campus ?? 'any').padEnd(16)}${used.padEnd(10)}${when(t.expiresAt).padEnd(22)}${t.note ?? ''}`,
    )
  }
}

/** `dandelion enroll-token <sub> ...`. Returns the process exit code. */
export async function runEnrollTokenCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv
  if (wantsHelp(sub, rest)) {
    out(ENROLL_TOKEN_USAGE)
    return 0
  }
  const { values, positionals } = parseArgs({
    args: rest,
    strict: true,
    allowPositionals: true,
    options: {
      ...ADMIN_CLIENT_OPTIONS,
      campus: { type: 'string' },
      ttl: { type: 'string' },
      uses: { type: 'string' },
      note: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  })
  const token = adminTokenOf(values)
  switch (sub) {
    case 'create': {
      const body = {
        campus: values.campus,
        ttlSeconds: values.ttl === undefined ? undefined : ttlSeconds(values.ttl),
        maxUses: values.uses === undefined ? undefined : uses(values.uses),
        note: values.note,
      }
      // through JSON: the fields left undefined are not sent
      const issued = (await call(
        apiBase(values.tracker),
        token,
        'POST',
        '/enrollment-tokens',
        JSON.parse(JSON.stringify(body)),
      )) as EnrollmentTokenView & { token: string }
      if (values.json) out(JSON.stringify(issued, null, 2))
      else {
        out(issued.token)
        process.stderr.write(
          `enrollment token ${issued.id}: ${issued.campus === undefined ? 'any campus' : `campus ${issued.campus}`}, ` +
            `${issued.maxUses === undefined ? 'any number of nodes' : `${issued.maxUses} node(s)`}, until ${when(issued.expiresAt)}. ` +
            'Shown this once: give it to the node as --enroll-token (or DANDELION_ENROLLMENT_TOKEN)\n',
        )
      }
      return 0
    }
    case 'list': {
      const tokens = (await call(
        apiBase(values.tracker),
        token,
        'GET',
        '/enrollment-tokens',
      )) as EnrollmentTokenView[]
      if (values.json) out(JSON.stringify(tokens, null, 2))
      else printList(tokens)
      return 0
    }
    case 'revoke': {
      const id = positionals[0]
      if (id === undefined)
        throw new InvalidConfigError('missing token id (list prints it): dandelion enroll-token revoke <id>')
      await call(apiBase(values.tracker), token, 'DELETE', `/enrollment-tokens/${encodeURIComponent(id)}`)
      out(`enrollment token ${id} revoked`)
      return 0
    }
    default:
      out(ENROLL_TOKEN_USAGE)
      return 2
  }
}
