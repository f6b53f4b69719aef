/**
 * Reading the deployment files the way their consumers do, enough for the checks in
 * `deploy-files.test.ts` and `deploy-metrics.test.ts`: a systemd unit (INI with repeatable keys), an environment file
 * (`NAME=value`, optional ones commented out as `#NAME=value`), a Prometheus exposition and
 * the metric names a PromQL expression reads.
 */

/** A unit file: section → key → every value given to it, in order. */
export type UnitFile = Map<string, Map<string, string[]>>

/** Parses a systemd unit (`#` and `;` comments, `[Section]`, `Key=Value`, `\` continuations). */
export function parseUnit(text: string): UnitFile {
  const unit: UnitFile = new Map()
  let section: Map<string, string[]> | undefined
  const lines = text.replace(/\\\n/g, ' ').split('\n')
  for (const [i, raw] of lines.entries()) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue
    const header = /^\[([A-Za-z]+)\]$/.exec(line)
    if (header !== null) {
      section = unit.get(header[1]) ?? new Map()
      unit.set(header[1], section)
      continue
    }
    const eq = line.indexOf('=')
    if (section === undefined || eq <= 0)
      throw new Error(`line ${i + 1} is neither a section nor Key=Value: ${raw}`)
    const key = line.slice(0, eq).trim()
    section.set(key, [...(section.get(key) ?? []), line.slice(eq + 1).trim()])
  }
  return unit
}

/** The last value of `key` in `[section]` (systemd's rule for single-valued keys). */
export function unitValue(unit: UnitFile, section: string, key: string): string | undefined {
  return unit.get(section)?.get(key)?.at(-1)
}

/** A command line's words; refuses quoting, specifiers and variables, which a plain split would misread. */
export function commandWords(line: string): string[] {
  if (/["'%$\\]/.test(line)) throw new Error(`quotes, %-specifiers or $-variables in ${line}`)
  return line.split(/\s+/).filter((w) => w !== '')
}

/** The value after `flag` in `words` (`--flag value`), if any. */
export function flagValue(words: readonly string[], flag: string): string | undefined {
  const i = words.indexOf(flag)
  return i < 0 ? undefined : words[i + 1]
}

/** One variable of an environment file. */
export interface EnvEntry {
  name: string
  value: string
  /** Commented out: an optional variable shown with an example value. */
  optional: boolean
}

/** The variables of an environment file, set or commented out (`#NAME=value`). */
export function parseEnvFile(text: string): EnvEntry[] {
  const entries: EnvEntry[] = []
  for (const raw of text.split('\n')) {
    const m = /^(#\s?)?([A-Z][A-Z0-9_]*)=(.*)$/.exec(raw.trim())
    if (m !== null) entries.push({ name: m[2], value: m[3], optional: m[1] !== undefined })
  }
  return entries
}

/** Names of the metric families of a Prometheus text exposition, from its `# TYPE` lines. */
export function exportedFamilies(exposition: string): Map<string, string> {
  const families = new Map<string, string>()
  for (const m of exposition.matchAll(/^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (\w+)$/gm)) families.set(m[1], m[2])
  return families
}

/** Whether `name` is a series of one of `families` (a histogram's or summary's suffixed series too). */
export function isExported(name: string, families: ReadonlyMap<string, string>): boolean {
  if (families.has(name)) return true
  const m = /^(.*)_(bucket|sum|count)$/.exec(name)
  const type = m === null ? undefined : families.get(m[1])
  return type === 'histogram' || (type === 'summary' && m?.[2] !== 'bucket')
}

const PROMQL_WORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan'])

/**
 * The metric names a PromQL expression reads: every identifier left once strings, label
 * matchers, ranges, grouping clauses and numbers are taken out, that is neither a function or
 * aggregation (followed by `(`) nor a keyword.
 */
export function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\boffset\s+\S+/g, ' ')
    .replace(/(?<![\w:])\d[\w.]*/g, ' ')
  const names = new Set<string>()
  for (const m of bare.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*(?!\s*\()/g)) {
    // the lookahead alone would cut `rate` to `rat`: skip words the full match does not end
    const end = (m.index ?? 0) + m[0].length
    if (/[a-zA-Z0-9_:]/.test(bare[end] ?? '')) continue
    if (!PROMQL_WORDS.has(m[0].toLowerCase())) names.add(m[0])
  }
  return [...names]
}
