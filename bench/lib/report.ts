/**
 * Shared output for benchmarks: a readable table on stdout and a flat JSON object of
 * numbers (plus parameters) in `bench/results/<name>.json`.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** A flat record of figures and the parameters that produced them. */
export type Figures = Record<string, number | string | boolean>

const resultsDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'results')

/** Prints rows as an aligned table. */
export function printTable(title: string, rows: Array<Record<string, string | number>>): void {
  if (rows.length === 0) return
  const cols = Object.keys(rows[0])
  const cell = (v: string | number | undefined): string =>
    typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toFixed(2)) : (v ?? '')
  const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)))
  const line = (vals: string[]): string => `| ${vals.map((v, i) => v.padEnd(widths[i])).join(' | ')} |`
  const out = [
    `\n${title}`,
    line(cols),
    `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`,
    ...rows.map((r) => line(cols.map((c) => cell(r[c])))),
    '',
  ]
  process.stdout.write(out.join('\n') + '\n')
}

/** Writes `bench/results/<name>.json` and returns its path. */
export function writeResults(name: string, figures: Figures): string {
  mkdirSync(resultsDir, { recursive: true })
  const file = join(resultsDir, `${name}.json`)
  writeFileSync(file, JSON.stringify(figures, null, 2) + '\n')
  return file
}

/** Samples a process's resident set size (MB) from /proc until stopped. */
export function sampleRss(pid: number, intervalMs = 50): { stop(): number } {
  let peak = 0
  const read = async (): Promise<void> => {
    try {
      const { readFile } = await import('node:fs/promises')
      const status = await readFile(`/proc/${pid}/status`, 'utf8')
      const m = /VmRSS:\s+(\d+) kB/.exec(status)
      if (m !== null) peak = Math.max(peak, Number(m[1]) / 1024)
    } catch {
      // the process may have exited between samples
    }
  }
  void read()
  const timer = setInterval(() => void read(), intervalMs)
  return {
    stop() {
      clearInterval(timer)
      return peak
    },
  }
}
