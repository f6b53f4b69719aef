/**
 * Shows a release's progress from the tracker's status report: one progress bar per stage
 * on a terminal (cli-progress), otherwise a line per stage whenever its counts change.
 */
import cliProgress from 'cli-progress'
import type { ReleaseStatusReport } from './admin-client.ts'

const MiB = 1024 * 1024

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

  stop(): void {
    this.bars?.stop()
  }
}
