import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    // this file lives in test/; the project root is one level up
    root: fileURLToPath(new URL('..', import.meta.url)),
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // multi-process and multi-node tests share two cores: keep files from starving each other
    maxWorkers: 2,
    fileParallelism: true,
    reporters: ['default'],
  },
})
