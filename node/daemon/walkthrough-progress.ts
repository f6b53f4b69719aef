/**
 * Shows a release's progress from the tracker's status report: one progress bar per stage
 * on a terminal (cli-progress), otherwise a line per stage whenever its counts change.
 */
import cliProgress from 'cli-progress'
import type { AdminClient, ReleaseStatusReport } from './admin-client.ts'
import { sleep } from './walkthrough-util.ts'

const MiB = 1024 * 1024
/** Release status poll interval. */
const POLL_MS = 500

/** A release stopped short: a node failed, or it was paused, aborted or rolled back. */
export class ReleaseFailedError extends Error {
  override name = 'ReleaseFailedError'
  readonly code = 'ERR_RELEASE_FAILED'
}

/**
 * Polls a release's status and shows it until the release completes; returns the last
 * status. Throws {@link ReleaseFailedError} (naming the failed nodes and their reasons)
 * as soon as a node fails or the release leaves the running state.
 */
export async function followRelease(
  admin: AdminClient,
  id: string,
  options: { out: (line: string) => void; bars: boolean; signal: AbortSignal },
): Promise<ReleaseStatusReport> {
  const progress = new ReleaseProgress(options.out, options.bars)
  try {
    for (;;) {
      const status = await admin.status(id, options)
      progress.update(status)
      if (status.release.status === 'completed') return status
      if (status.counts.failed > 0 || status.release.status !== 'running') {
        const failed = (await admin.nodes(id, options)).filter((n) => n.state === 'failed')
        throw new ReleaseFailedError(
          `release ${status.release.status}: ${failed.map((n) => `${n.nodeId} failed (${n.reason ?? '?'})`).join('; ')}`,
        )
      }
      await sleep(POLL_MS, options.signal)
    }
  } finally {
    progress.stop()
  }
}

/** Renders successive status reports of one release. */
export class ReleaseProgress {
  private readonly out: (line: string) => void
  private readonly bars?: cliProgress.MultiBar
  private readonly stageBars: cliProgress.SingleBar[] = []
  private readonly printed = new Map<number, string>()

  constructor(out: (line: string) => void, tty: boolean) {
    this.out = out
    this.bars = tty
      ? new cliProgress.MultiBar(
          {
            format:
              '  {label} {bar} {value}/{total} active  {pending} pending  {fetching} fetching  {placed} placed  {failed} failed  {peers}/{origin} MiB peers/origin',
            barsize: 20,
            hideCursor: true,
            clearOnComplete: false,
          },
          cliProgress.Presets.shades_classic,
        )
      : undefined
  }

  /** Shows one status report. */
  update(s: ReleaseStatusReport): void {
    const peers = (s.bytes.peers / MiB).toFixed(1)
    const origin = (s.bytes.origin / MiB).toFixed(1)
    for (const st of s.stages) {
      const label = `stage ${st.stage + 1} (${st.percent}%, ${st.gate})`.padEnd(20)
      const c = st.counts
      const fields = {
        label,
        pending: c.pending + c.waiting,
        fetching: c.fetching,
        placed: c.placed,
        failed: c.failed,
        peers,
        origin,
      }
      if (this.bars !== undefined) {
        this.stageBars[st.stage] ??= this.bars.create(st.nodes, 0, fields)
        this.stageBars[st.stage].setTotal(st.nodes)
        this.stageBars[st.stage].update(c.active, fields)
        continue
      }
      // the release has not reached this stage yet: nothing to say
      if (c.waiting === st.nodes) continue
      const line = `  ${label} nodes ${st.nodes}: pending ${c.pending} fetching ${c.fetching} placed ${c.placed} active ${c.active} failed ${c.failed}`
      if (this.printed.get(st.stage) === line) continue
      this.printed.set(st.stage, line)
      this.out(`${line}  (release: ${peers} MiB from peers, ${origin} MiB from origin)`)
    }
  }

  /** Ends the bars (leaves them on screen). */
  stop(): void {
    this.bars?.stop()
  }
}
