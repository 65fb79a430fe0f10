/**
 * RAG ingest with real llama.cpp embedders (the shared test models), to show where ingest time
 * goes: embedding (the model) against everything else (reading, chunking, usearch, writes).
 * Usage: AKACHAT_TEST_MODELS=../shared/models npx tsx bench/rag-ingest.bench.ts [--chunks 2000]
 * Writes bench/results/rag-ingest-<host>.json.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { engineEmbedderFactory } from '../src/llm/embedder.js';
import { ModelManager } from '../src/llm/model-manager.js';
import { Rag } from '../src/rag/index.js';
import { describeMachine } from './machine.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values: args } = parseArgs({ options: { chunks: { type: 'string', default: '2000' } } });
const chunks = Number(args.chunks);
const models = process.env.AKACHAT_TEST_MODELS ?? join(root, '..', 'shared', 'models');

// Sentences in Japanese and English, about 200 characters a chunk.
const words = ['猫', '犬', '公園', '電車', '東京', '雨', 'the', 'park', 'train', 'rain', 'ball', 'friend', '学校', '先生'];
let seed = 7;
const pick = () => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return words[seed % words.length]; };
const chunkText = (i: number) => Array.from({ length: 40 }, pick).join(' ') + ` (${i})`;

const rows = [];
for (const file of ['synthetic-bert-bge-vocab-h32.gguf', 'stories260K.gguf']) {
  const path = join(models, file);
  if (!existsSync(path)) { console.error(`skipping ${file}: not found in ${models}`); continue; }
  const dataFolder = await mkdtemp(join(tmpdir(), 'akachat-rag-ingest-'));
  const rag = new Rag({ dataFolder, embedderFactory: engineEmbedderFactory(new ModelManager({ cacheDir: join(dataFolder, 'cache') })) });
  await rag.create('bench', { embeddingModel: path, chunkSize: 0 });
  // Warm-up: loads the model once so the timed ingest measures steady work.
  await rag.addText('bench', 'warmup.txt', 'warm up');
  const started = performance.now();
  const report = await rag.addFiles('bench', Array.from({ length: chunks }, (_, i) => ({ name: `doc${i}.txt`, data: new TextEncoder().encode(chunkText(i)) })));
  const totalMs = performance.now() - started;
  const row = { model: file, chunks: report.chunksAdded, chunksPerSecond: report.chunksAdded / (totalMs / 1000), totalMs, embedMs: report.embedMs, embedShare: report.embedMs / totalMs };
  rows.push(row);
  await rag.dispose();
  await rm(dataFolder, { recursive: true, force: true });
}

console.log('| embedding model | chunks | chunks/s | embedding | ours |\n| --- | ---: | ---: | ---: | ---: |');
for (const r of rows) console.log(`| ${r.model} | ${r.chunks} | ${r.chunksPerSecond.toFixed(0)} | ${(r.embedShare * 100).toFixed(1)}% | ${(100 - r.embedShare * 100).toFixed(1)}% |`);
const machine = describeMachine();
const out = join(root, 'bench', 'results', `rag-ingest-${machine.host}.json`);
await mkdir(dirname(out), { recursive: true });
await writeFile(out, JSON.stringify({ date: new Date().toISOString(), machine, rows }, null, 2) + '\n');
console.log(`written ${out}`);
