import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Native tests load models; keep files in separate forks so a crash names its file.
    pool: 'forks',
    fileParallelism: true,
    reporters: ['default'],
  },
});
