/**
 * The flags of `dandelion release create` and `advance`, read into what the admin API
 * takes. Every value is checked here, before anything is sent, and a wrong one is a usage
 * error (exit 2) naming the flag and the value: sent as it was, `Number('half')` went out
 * as JSON `null` and came back as the tracker's words about a JSON body ("must be >= 1"),
 * or, for an `--ab-percent` without `--ab-version`, was dropped and the release made with
 * no A/B split at all.
 */
import { InvalidConfigError } from '../node/errors.ts'
import { MAX_ACTIVATE_AT_MS, MAX_OUTCOME_TIMEOUT_MS, MAX_STAGES, MAX_VERSION } from './constants.ts'

/** The flags of `release create`, as `parseArgs` gives them. */
export interface CreateFlags {
  resource?: string
  version?: string
  cities?: string
  campuses?: string
  labels?: string
  nodes?: string
  stages?: string
  gate?: string
  ratio?: string
  'ab-version'?: string
  'ab-percent'?: string
  'activate-at'?: string
  'outcome-timeout'?: string
}

/** The body of `POST /api/v1/releases` (see `releaseBody` in `api/schemas.ts`). */
export interface CreateReleaseBody {
  resource: string
  version: number
  targets: { cities?: string[]; campuses?: string[]; labels?: string[]; nodes?: string[] }
  stages: Array<{ percent: number; gate: string; successRatio?: number }>
  ab?: { version: number; percent: number }
  activateAt?: number
  outcomeTimeoutMs?: number
}

const DAY_MS = 86_400_000

/** A comma-separated list, without empty items; undefined if the flag was not given. */
export const list = (v: string | undefined): string[] | undefined =>
  v === undefined
    ? undefined
    : v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)

/**
 * The number `text` writes in plain decimal (a trailing `%` allowed where `percent`), if
 * `ok` takes it; else a usage error naming `flag`, the value and what `expected` says.
 * `Number()` alone would take `''` as 0 and `0x10` as 16.
 */
function numberFlag(
  flag: string,
  text: string,
  ok: (n: number) => boolean,
  expected: string,
  percent = false,
): number {
  const digits = percent ? text.trim().replace(/%$/, '') : text.trim()
  const n = /^\d+(?:\.\d+)?$/.test(digits) ? Number(digits) : Number.NaN
  if (!ok(n)) throw new InvalidConfigError(`${flag} ${JSON.stringify(text)}: ${expected}`)
  return n
}

const isVersion = (n: number): boolean => Number.isInteger(n) && n >= 1 && n <= MAX_VERSION
const VERSION_EXPECTED = `a version number, a whole number from 1 to ${MAX_VERSION}`

/**
 * Milliseconds of a duration such as `500ms`, `90s`, `30m` or `6h` (a bare number is
 * milliseconds); undefined if it is not one.
 */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$/.exec(text.trim())
  if (m === null) return undefined
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: DAY_MS }[(m[2] ?? 'ms') as 'ms']
  const ms = Math.round(Number(m[1]) * unit)
  return Number.isSafeInteger(ms) && ms > 0 ? ms : undefined
}

/** The request `release create` sends for `flags`; throws {@link InvalidConfigError} on a wrong one. */
export function createReleaseBody(flags: CreateFlags): CreateReleaseBody {
  if (flags.resource === undefined || flags.version === undefined)
    throw new InvalidConfigError('--resource and --version required')
  const version = numberFlag('--version', flags.version, isVersion, VERSION_EXPECTED)
  const targets = {
    cities: list(flags.cities),
    campuses: list(flags.campuses),
    labels: list(flags.labels),
    nodes: list(flags.nodes),
  }
  if (!Object.values(targets).some((ids) => ids !== undefined && ids.length > 0))
    throw new InvalidConfigError(
      'no targets: give one or more of --cities, --campuses, --labels or --nodes (comma-separated ids)',
    )
  const stageFlag = flags.stages ?? '100'
  const percents = (list(stageFlag) ?? []).map((p) =>
    numberFlag(
      '--stages',
      p,
      (n) => n > 0 && n <= 100,
      'each stage is a percentage of the targets above 0 and up to 100 (such as 5,50,100)',
      true,
    ),
  )
  if (percents.length === 0 || percents.length > MAX_STAGES)
    throw new InvalidConfigError(
      `--stages ${JSON.stringify(stageFlag)}: 1 to ${MAX_STAGES} comma-separated percentages (such as 5,50,100)`,
    )
  const gate = flags.gate ?? 'auto'
  if (gate !== 'auto' && gate !== 'manual')
    throw new InvalidConfigError(`--gate ${JSON.stringify(gate)}: auto or manual`)
  const successRatio =
    flags.ratio === undefined
      ? undefined
      : numberFlag(
          '--ratio',
          flags.ratio,
          (n) => n > 0 && n <= 1,
          'the share of a stage that must succeed, above 0 and up to 1 (0.95 = 95 %)',
        )
  if (flags['ab-percent'] !== undefined && flags['ab-version'] === undefined)
    throw new InvalidConfigError(
      `--ab-percent ${JSON.stringify(flags['ab-percent'])} without --ab-version: give the B side's version too`,
    )
  const ab =
    flags['ab-version'] === undefined
      ? undefined
      : {
          version: numberFlag('--ab-version', flags['ab-version'], isVersion, VERSION_EXPECTED),
          percent: numberFlag(
            '--ab-percent',
            flags['ab-percent'] ?? '50',
            (n) => n >= 0 && n <= 100,
            'the percentage of the targets given --ab-version, a number from 0 to 100',
            true,
          ),
        }
  let activateAt: number | undefined
  if (flags['activate-at'] !== undefined) {
    activateAt = Date.parse(flags['activate-at'])
    // a node reads it as epoch milliseconds within a Date's range (`rollout/plan.ts`)
    if (!(activateAt >= 0 && activateAt <= MAX_ACTIVATE_AT_MS))
      throw new InvalidConfigError(
        `--activate-at ${JSON.stringify(flags['activate-at'])}: an ISO time such as 2026-11-23T08:00:00+08:00`,
      )
  }
  let outcomeTimeoutMs: number | undefined
  if (flags['outcome-timeout'] !== undefined) {
    outcomeTimeoutMs = parseDuration(flags['outcome-timeout'])
    if (outcomeTimeoutMs === undefined || outcomeTimeoutMs > MAX_OUTCOME_TIMEOUT_MS)
      throw new InvalidConfigError(
        `--outcome-timeout ${JSON.stringify(flags['outcome-timeout'])}: a duration such as 90m, 6h or 2d, ` +
          `at most ${MAX_OUTCOME_TIMEOUT_MS / DAY_MS}d`,
      )
  }
  return {
    resource: flags.resource,
    version,
    targets,
    stages: percents.map((percent) => ({ percent, gate, successRatio })),
    ab,
    activateAt,
    outcomeTimeoutMs,
  }
}

/**
 * The stage index (`release.stage`, from 0) of `advance --from <n>`, where n counts from 1
 * as `status` prints it (`stage n/N`).
 */
export function advanceFrom(text: string): number {
  const n = numberFlag(
    '--from',
    text,
    (v) => Number.isInteger(v) && v >= 1 && v <= MAX_STAGES,
    `a stage number as status shows it (stage n/N), from 1 to ${MAX_STAGES}`,
  )
  return n - 1
}
