import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // multi-process and multi-node tests share two cores: keep files from starving each other
    maxWorkers: 2,
    fileParallelism: true,
    reporters: ['default'],
  },
})
