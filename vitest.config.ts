import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  // Examples import the package by name, as users do; here that is the source tree.
  resolve: {
    alias: [
      { find: /^akachat\/vitest$/, replacement: fileURLToPath(new URL('./src/vitest.ts', import.meta.url)) },
      { find: /^akachat\/http$/, replacement: fileURLToPath(new URL('./src/http/index.ts', import.meta.url)) },
      { find: /^akachat$/, replacement: fileURLToPath(new URL('./src/index.ts', import.meta.url)) },
    ],
  },
  test: {
    include: ['test/**/*.test.ts', 'examples/**/*.test.ts'],
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
