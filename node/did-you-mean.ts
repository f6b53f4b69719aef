/**
 * Near misses among setting names: a config key or an environment variable an operator
 * misspelt. A misspelt variable was silently ignored (the setting kept its default) and a
 * misspelt file key was refused without saying which key was meant.
 */
import { DANDELION_ENV_NAMES } from './dandelion-env.ts'

/** Edits (insert, delete, substitute) that still count as a misspelling. */
const MAX_EDITS = 2

/** Levenshtein distance of `a` and `b`, or `limit + 1` once it exceeds `limit`. */
function distance(a: string, b: string, limit: number): number {
  if (Math.abs(a.length - b.length) > limit) return limit + 1
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const row = [i]
    let best = i
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + cost)
      best = Math.min(best, row[j])
    }
    if (best > limit) return limit + 1
    prev = row
  }
  return prev[b.length]
}

/**
 * The known name `name` is most likely a misspelling of, compared without regard to case,
 * or `undefined` when none is within two edits (or `name` is itself known).
 */
export function didYouMean(name: string, known: Iterable<string>): string | undefined {
  const wanted = name.toLowerCase()
  let best: { name: string; edits: number } | undefined
  for (const k of known) {
    if (k === name) return undefined
    const edits = distance(wanted, k.toLowerCase(), MAX_EDITS)
    if (edits <= MAX_EDITS && (best === undefined || edits < best.edits)) best = { name: k, edits }
  }
  return best?.name
}

/**
 * `DANDELION_*` variables of `env` that no setting reads but that are a near miss of one in
 * `known`, each with the variable it most likely meant. Variables far from every known one
 * are left alone, and so is every name in `everyName`: the environment is shared with the
 * other services' own variables, and a colleague's correct variable is no misspelling.
 */
export function misspeltEnv(
  env: NodeJS.ProcessEnv,
  known: readonly string[],
  everyName: readonly string[] = DANDELION_ENV_NAMES,
): Array<{ name: string; meant: string }> {
  const out: Array<{ name: string; meant: string }> = []
  for (const name of Object.keys(env)) {
    if (!name.startsWith('DANDELION_') || known.includes(name) || everyName.includes(name)) continue
    const meant = didYouMean(name, known)
    if (meant !== undefined) out.push({ name, meant })
  }
  return out
}
