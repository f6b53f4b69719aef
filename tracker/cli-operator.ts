/**
 * `dandelion operator create|list|revoke`: the tracker's administrator's client of the operator
 * tokens (`api/operator-routes.ts`), one per person or script, named in the audit trail, with
 * the release client's settings (`--tracker <url> --token <t>`, or `DANDELION_TRACKER_URL` /
 * `DANDELION_ADMIN_TOKEN`: the tracker's own admin token, which alone issues and revokes them).
 * A usage error exits 2 (see `runCommand` in `node/cli-main.ts`).
 */
import { parseArgs } from 'node:util'
import { InvalidConfigError } from '../node/errors.ts'
import { ADMIN_CLIENT_OPTIONS, adminTokenOf, wantsHelp } from './cli-admin.ts'
import { parseDuration } from './cli-release-args.ts'
import { apiBase, call } from './cli-release-client.ts'
import { MAX_OPERATOR_TOKEN_TTL_MS } from './constants.ts'
import type { OperatorTokenView } from './state/operator-tokens.ts'

const out = (s: string): void => {
  process.stdout.write(s + '\n')
}

export const OPERATOR_USAGE = `Usage: dandelion operator <command> [options]   (--tracker <url> --token <t> or DANDELION_TRACKER_URL / DANDELION_ADMIN_TOKEN)
  create <name> --role admin|viewer [--ttl <90d|12h|…>] [--json]
         issues a token of the admin API for one person or script: admin makes every change
         but issuing and revoking operator tokens, viewer only reads. The audit trail names
         <name> (lower-case letters, digits, . _ -) for each change it makes. It expires after
         --ttl if given (at most 366d), else never. The token is printed once: the tracker
         keeps only its hash. Needs the tracker's own admin token
  list [--json]     the operator tokens: name, role, state, created, expiry, last used (never the tokens)
  revoke <name>     refused from its next request on (ERR_OPERATOR_TOKEN_REVOKED)
  -h, --help        this help`

/** A whole number of seconds from `--ttl`, within what the tracker takes. */
function ttlSeconds(text: string): number {
  const ms = parseDuration(text)
  if (ms === undefined || ms < 1000 || ms > MAX_OPERATOR_TOKEN_TTL_MS)
    throw new InvalidConfigError(
      `--ttl ${JSON.stringify(text)}: a duration from 1s to 366d, such as 12h or 90d (a bare number is milliseconds)`,
    )
  return Math.floor(ms / 1000)
}

function role(text: string | undefined): 'admin' | 'viewer' {
  if (text === 'admin' || text === 'viewer') return text
  throw new InvalidConfigError(
    text === undefined
      ? '--role admin|viewer required: admin makes changes, viewer only reads'
      : `--role ${JSON.stringify(text)}: admin or viewer`,
  )
}

/** The operator's name: the first positional, or a usage error saying how. */
function nameOf(positionals: string[], sub: string): string {
  const name = positionals[0]
  if (name === undefined)
    throw new InvalidConfigError(
      `missing operator name: dandelion operator ${sub} <name>${sub === 'create' ? ' --role admin|viewer' : ''}`,
    )
  return name
}

const when = (ms: number | undefined, none: string): string =>
  ms === undefined ? none : new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z')

/** One line per token: name, role, state, created, expires, last used. */
function printList(tokens: OperatorTokenView[]): void {
  if (tokens.length === 0) {
    out('no operator tokens issued (the tracker’s own --admin-token and --viewer-token still work)')
    return
  }
  out(
    `${'name'.padEnd(20)}${'role'.padEnd(8)}${'state'.padEnd(9)}${'created'.padEnd(22)}${'expires'.padEnd(22)}last used`,
  )
  for (const t of tokens) {
    const revoked = t.revokedAt === undefined ? '' : `  revoked ${when(t.revokedAt, '')}`
    out(
      `${t.name.padEnd(20)}${t.role.padEnd(8)}${t.state.padEnd(9)}${when(t.createdAt, '').padEnd(22)}${when(t.expiresAt, 'never').padEnd(22)}${when(t.lastUsedAt, 'never')}${revoked}`,
    )
  }
}

/** `dandelion operator <sub> ...`. Returns the process exit code. */
export async function runOperatorCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv
  if (wantsHelp(sub, rest)) {
    out(OPERATOR_USAGE)
    return 0
  }
  const { values, positionals } = parseArgs({
    args: rest,
    strict: true,
    allowPositionals: true,
    options: {
      ...ADMIN_CLIENT_OPTIONS,
      role: { type: 'string' },
      ttl: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  })
  switch (sub) {
    case 'create': {
      // every flag checked before the token is looked for, and before anything is sent
      const body = {
        name: nameOf(positionals, sub),
        role: role(values.role),
        ...(values.ttl === undefined ? {} : { ttlSeconds: ttlSeconds(values.ttl) }),
      }
      const issued = (await call(
        apiBase(values.tracker),
        adminTokenOf(values),
        'POST',
        '/operators',
        body,
      )) as OperatorTokenView & { token: string }
      if (values.json) out(JSON.stringify(issued, null, 2))
      else {
        out(issued.token)
        process.stderr.write(
          `operator ${issued.name}: ${issued.role}, ${issued.expiresAt === undefined ? 'no expiry' : `until ${when(issued.expiresAt, '')}`}. ` +
            'Shown this once: give it to them as their --token (or DANDELION_ADMIN_TOKEN); the audit trail names them for each change it makes\n',
        )
      }
      return 0
    }
    case 'list': {
      const tokens = (await call(
        apiBase(values.tracker),
        adminTokenOf(values),
        'GET',
        '/operators',
      )) as OperatorTokenView[]
      if (values.json) out(JSON.stringify(tokens, null, 2))
      else printList(tokens)
      return 0
    }
    case 'revoke': {
      const name = nameOf(positionals, sub)
      await call(
        apiBase(values.tracker),
        adminTokenOf(values),
        'DELETE',
        `/operators/${encodeURIComponent(name)}`,
      )
      out(`operator ${name} revoked: its token is refused from its next request on`)
      return 0
    }
    default:
      out(OPERATOR_USAGE)
      return 2
  }
}
