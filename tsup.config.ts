import { defineConfig } from 'tsup';

export default defineConfig({
  // rag-worker: the RAG ingestion worker thread, loaded by path (src/rag/ingest-pool.ts).
  entry: { index: 'src/index.ts', http: 'src/http/index.ts', cli: 'src/cli.ts', vitest: 'src/vitest.ts', 'rag-worker': 'src/rag/ingest-worker.ts' },
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node22',
  shims: true,
  // akachat/vitest runs inside the user's vitest: never bundle a copy of it.
  external: ['vitest'],
});
