/**
 * Admin API routes of the tracker's backups (`backups.ts`, `state/backup.ts`): taken while it
 * runs, into `<dataDir>/backups/`, on the tracker's own disk (the backup holds its key, which
 * never crosses the network); restored with `dandelion backup restore` while it is stopped.
 */
import { ConflictError } from '../errors.ts'
import type { RouteContext, RouteDef } from './route-kit.ts'

/** The backups' routes. */
export function backupRoutes(c: RouteContext): RouteDef[] {
  const backups = () => {
    if (c.backups === undefined)
      throw new ConflictError(
        'this tracker keeps its state in memory: start it with --data-dir to take backups',
        'ERR_NO_DATA_DIR',
      )
    return c.backups
  }
  return [
    {
      method: 'POST',
      url: '/backups',
      summary:
        'Take a backup now into <data-dir>/backups/<UTC time>/ (state as of one moment, the tracker key, a SHA-256); the oldest beyond --backup-keep are deleted',
      status: 201,
      handler: async (req) => {
        const info = await backups().take()
        req.log.info({ backup: info.name, entries: info.entries }, 'backup taken')
        return info
      },
    },
    {
      method: 'GET',
      url: '/backups',
      summary: 'The backups kept, oldest first: name, time, entries, bytes, SHA-256',
      handler: async () => backups().list(),
    },
  ]
}
