import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Native tests load models; keep files in separate forks so a crash names its file.
    pool: 'forks',
    // One file at a time: llama.cpp's compute threads spin while they wait, so two model
    // tests at once on a small machine slow each other down many times over.
    fileParallelism: false,
    reporters: ['default'],
  },
});
