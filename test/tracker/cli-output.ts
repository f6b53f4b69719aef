/** Captures what a command run in this process writes to stdout and stderr. */
import { vi } from 'vitest'

/**
 * Runs `fn` with `process.stdout` and `process.stderr` written to strings instead of the
 * terminal; its result and what it wrote. Both are restored even when `fn` throws.
 */
export async function captureOutput<T>(
  fn: () => Promise<T>,
): Promise<{ value: T; out: string; err: string }> {
  let out = ''
  let err = ''
  const stdout = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += chunk.toString()
    return true
  })
  const stderr = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    err += chunk.toString()
    return true
  })
  try {
    return { value: await fn(), out, err }
  } finally {
    stdout.mockRestore()
    stderr.mockRestore()
  }
}
