/**
 * `dandelion backup create|list|restore`: backups of a running tracker (`backups.ts`,
 * `state/backup.ts`). `create` and `list` ask the tracker's admin API (`--tracker <url>
 * --token <t>`, or `DANDELION_TRACKER_URL` / `DANDELION_ADMIN_TOKEN`); the backup is written on
 * the tracker's machine, under its data directory. `restore` runs on that machine while the
 * tracker is stopped, into an empty data directory. A usage error exits 2.
 */
import { parseArgs } from 'node:util'
import { InvalidConfigError } from '../node/errors.ts'
import { ADMIN_CLIENT_OPTIONS, adminTokenOf, wantsHelp } from './cli-admin.ts'
import { apiBase, call } from './cli-release-client.ts'
import { type BackupInfo, restoreBackup } from './state/backup.ts'

const out = (s: string): void => {
  process.stdout.write(s + '\n')
}

export const BACKUP_USAGE = `Usage: dandelion backup <command> [options]
  create [--json]      take a backup of the running tracker now, into <its data-dir>/backups/<UTC time>/
                       (its state as of one moment, its key, a SHA-256); the oldest beyond its
                       --backup-keep are deleted. Copy that directory off the machine.
  list [--json]        the backups the tracker keeps
      (create and list: --tracker <url> --token <t>, or DANDELION_TRACKER_URL / DANDELION_ADMIN_TOKEN)
  restore --from <backup dir> --data-dir <dir>
                       with the tracker stopped: checks the backup whole (SHA-256, entries), then
                       writes it into <dir>, which must hold no tracker state or key; start the
                       tracker with --data-dir <dir>. Nodes keep obeying it (same key).
  -h, --help           this help`

const line = (b: BackupInfo): string =>
  `${b.name}  ${String(b.entries).padStart(9)} entries  ${String(b.bytes).padStart(12)} bytes  sha256 ${b.sha256.slice(0, 16)}…`

/** `dandelion backup <sub> ...`. Returns the process exit code. */
export async function runBackupCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv
  if (wantsHelp(sub, rest)) {
    out(BACKUP_USAGE)
    return 0
  }
  const { values } = parseArgs({
    args: rest,
    strict: true,
    options: {
      ...ADMIN_CLIENT_OPTIONS,
      from: { type: 'string' },
      'data-dir': { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  })
  if (sub === 'restore') {
    if (values.from === undefined || values['data-dir'] === undefined)
      throw new InvalidConfigError('restore needs --from <backup dir> and --data-dir <dir>')
    const info = await restoreBackup(values.from, values['data-dir'])
    out(
      `restored ${info.name} (${info.entries} entries, tracker ${info.trackerId}) into ${values['data-dir']}: start the tracker with --data-dir ${values['data-dir']}`,
    )
    return 0
  }
  const token = adminTokenOf(values)
  switch (sub) {
    case 'create': {
      const info = (await call(apiBase(values.tracker), token, 'POST', '/backups')) as BackupInfo
      out(values.json ? JSON.stringify(info, null, 2) : `backup ${line(info)}`)
      return 0
    }
    case 'list': {
      const list = (await call(apiBase(values.tracker), token, 'GET', '/backups')) as BackupInfo[]
      if (values.json) out(JSON.stringify(list, null, 2))
      else if (list.length === 0) out('no backups kept')
      else for (const b of list) out(line(b))
      return 0
    }
    default:
      out(BACKUP_USAGE)
      return 2
  }
}
