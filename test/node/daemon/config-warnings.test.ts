import { afterEach, describe, expect, it, vi } from 'vitest'

afterEach(() => vi.restoreAllMocks())

describe('node daemon config', () => {
  it('loads without printing a deprecation warning on the daemon stderr', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {})
    const { resolveConfig } = await import('../../../node/daemon/config.ts')
    // lengths are still counted in UTF-16 units, as peers count them: 100 emoji are 200 units
    expect(() => resolveConfig({ data: '/a', trustAnyOrigin: true, campus: '😀'.repeat(100) })).toThrow(
      /campus/,
    )
    expect(warn).not.toHaveBeenCalled()
  })
})
