/**
 * `dandelion versions list|remove`: the versions of a resource as the tracker keeps them
 * (`GET /api/v1/resources/:name/versions`), and removing one before the origin deletes its
 * content (`DELETE …/versions/:version`), with the release client's settings (`--tracker
 * <url> --token <t>`, or `DANDELION_TRACKER_URL` / `DANDELION_ADMIN_TOKEN`). A usage error
 * exits 2, a refusal 1 with the tracker's reason (see `runCommand` in `node/cli-main.ts`).
 */
import { parseArgs } from 'node:util'
import { InvalidConfigError } from '../node/errors.ts'
import { ADMIN_CLIENT_OPTIONS, adminTokenOf, wantsHelp } from './cli-admin.ts'
import { apiBase, call } from './cli-release-client.ts'
import { MAX_VERSION } from './constants.ts'
import type { VersionUsage } from './rollout/version-use.ts'
import type { VersionRecord } from './state/index.ts'

const out = (s: string): void => {
  process.stdout.write(s + '\n')
}

export const VERSIONS_USAGE = `Usage: dandelion versions <command> [options]   (--tracker <url> --token <t> or DANDELION_TRACKER_URL / DANDELION_ADMIN_TOKEN)
  list <resource> [--json]      its versions: number, status (draft | approved | removed), manifest,
                                size, and whether it is in use (a removal would be refused) and why
  remove <resource> <version> [--json]
                                removes a version before the origin deletes its content: kept as a
                                tombstone (status removed, its number never reused, never released
                                again). Refused, changing nothing, while it is in use: a node runs it,
                                a release carries it, it is what a node should run or a rollback
                                target; the refusal says which and what to do first. An origin
                                given --tracker-url asks this itself when it removes a version
                                (dandelion remove-version): this is for the tracker alone
  -h, --help                    this help`

const when = (ms: number): string => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z')

/** The resource and version positionals, checked before anything is sent. */
function target(positionals: string[], withVersion: boolean): { name: string; version?: number } {
  const [name, text] = positionals
  const form = withVersion ? '<resource> <version>' : '<resource>'
  if (name === undefined || (withVersion && text === undefined))
    throw new InvalidConfigError(
      `missing ${withVersion && name !== undefined ? 'version' : 'resource'}: ${form}`,
    )
  if (!withVersion) return { name }
  const version = /^\d+$/.test(text) ? Number(text) : Number.NaN
  if (!(Number.isSafeInteger(version) && version >= 1 && version <= MAX_VERSION))
    throw new InvalidConfigError(
      `version ${JSON.stringify(text)}: a version number, a whole number from 1 to ${MAX_VERSION}`,
    )
  return { name, version }
}

/** One line per version: what uses it, the reason a refusal would give up to its advice. */
function versionLine(v: VersionRecord, usage: VersionUsage | undefined): string {
  const at = v.status === 'removed' && v.removedAt !== undefined ? ` removed ${when(v.removedAt)}` : ''
  const use =
    usage === undefined
      ? ''
      : usage.inUse
        ? `  in use: ${usage.message?.split('. First ')[0]}`
        : '  removable'
  return `v${String(v.version).padEnd(6)} ${v.status.padEnd(9)} ${v.manifestCid} ${v.size} bytes${at}${use}`
}

/** `dandelion versions <sub> ...`. Returns the process exit code. */
export async function runVersionsCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv
  if (wantsHelp(sub, rest)) {
    out(VERSIONS_USAGE)
    return 0
  }
  if (sub !== 'list' && sub !== 'remove') {
    out(VERSIONS_USAGE)
    return 2
  }
  const { values, positionals } = parseArgs({
    args: rest,
    strict: true,
    allowPositionals: true,
    options: { ...ADMIN_CLIENT_OPTIONS, json: { type: 'boolean', default: false } },
  })
  const { name, version } = target(positionals, sub === 'remove')
  const base = apiBase(values.tracker)
  const token = adminTokenOf(values)
  const path = `/resources/${encodeURIComponent(name)}/versions`
  if (sub === 'list') {
    const list = (await call(base, token, 'GET', path)) as VersionRecord[]
    if (values.json) out(JSON.stringify(list, null, 2))
    else
      for (const v of list) {
        const usage =
          v.status === 'removed'
            ? undefined
            : ((await call(base, token, 'GET', `${path}/${v.version}/usage`)) as VersionUsage)
        out(versionLine(v, usage))
      }
    return 0
  }
  const v = (await call(base, token, 'DELETE', `${path}/${version}`)) as VersionRecord
  if (values.json) out(JSON.stringify(v, null, 2))
  else
    out(
      `${v.resource} v${v.version} removed (${when(v.removedAt ?? Date.now())}): no node runs or will be sent it; the origin may delete its content`,
    )
  return 0
}
