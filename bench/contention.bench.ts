/**
 * Generation speed when the machine is shared: tg64 tokens/s of a random ~70M-parameter Llama
 * (Q4_K_M) at several thread counts, on an idle machine and with a competing CPU load (one
 * busy-looping process per core, as another program or a second job would be). ggml's compute
 * threads spin while they wait for each other, so a pool as wide as the machine stalls whenever
 * the OS gives one of its cores to someone else; this shows how much, and what
 * `defaultThreads()` (physical cores - 1) gains or loses on an idle machine.
 *
 * Rounds alternate the thread counts (interleaved), and the load is switched on and off between
 * blocks of rounds, so slow drifts of a shared VM hit every side alike. Reports the median
 * tokens/s with its 95% bootstrap interval, and each side's median ratio to the all-cores pool.
 *
 * Usage: npx tsx bench/contention.bench.ts [-- --rounds 7 --tokens 64]
 * Writes bench/results/contention-<host>.json.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { defaultThreads, Model, quantize, systemInfo } from '../src/engine/index.js';
import { writeRandomLlama } from '../test/support/gguf-writer.js';
import { describeMachine } from './machine.js';
import { medianInterval, quantile } from './stats.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values: args } = parseArgs({ options: { rounds: { type: 'string', default: '7' }, tokens: { type: 'string', default: '64' } } });
const rounds = Number(args.rounds);
const tokens = Number(args.tokens);

const cores = Math.max(1, systemInfo().mathCores || availableParallelism());
const chosen = defaultThreads();
const sides = [...new Set([cores, 1, chosen])].sort((a, b) => b - a);

/** One busy-looping process per core, niced like nothing: the load a second program would be. */
function startLoad(): ChildProcess[] {
  return Array.from({ length: availableParallelism() }, () => spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }));
}

async function stopLoad(load: ChildProcess[]): Promise<void> {
  await Promise.all(load.map((child) => new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  })));
}

async function makeModel(dir: string): Promise<string> {
  const f16 = join(dir, 'random-f16.gguf');
  const q4 = join(dir, 'random-q4.gguf');
  const { parameters } = await writeRandomLlama(f16, { embedding: 512, layers: 8, heads: 8, headsKv: 4, feedForward: 1408, vocab: 32000, type: 'f16' });
  console.error(`random Llama: ${Math.round(parameters / 1e6)}M parameters, Q4_K_M`);
  await quantize(f16, q4, 'Q4_K_M');
  return q4;
}

const dir = await mkdtemp(join(tmpdir(), 'akachat-contention-'));
const modelPath = await makeModel(dir);
const model = await Model.load(modelPath);
const contexts = new Map<number, Awaited<ReturnType<Model['createContext']>>>();
for (const threads of sides) contexts.set(threads, await model.createContext({ contextSize: 512, threads }));
const prompt = model.tokenize('Once upon a time there was', { addSpecial: true });

/** tokens/s of one generation of `tokens` tokens (the prompt is cached after the first call). */
async function tg(threads: number): Promise<number> {
  const context = contexts.get(threads)!;
  const started = performance.now();
  const generation = context.generate(prompt, { maxTokens: tokens, temperature: 0, ignoreEos: true });
  const result = await generation.result;
  return result.generatedTokens / ((performance.now() - started) / 1000);
}

type Condition = 'idle' | 'loaded';
const samples: Record<Condition, Map<number, number[]>> = { idle: new Map(), loaded: new Map() };
for (const condition of Object.keys(samples) as Condition[]) for (const threads of sides) samples[condition].set(threads, []);

for (const threads of sides) await tg(threads); // warm every context once
for (let round = 0; round < rounds; round++) {
  for (const condition of (round % 2 === 0 ? ['idle', 'loaded'] : ['loaded', 'idle']) as Condition[]) {
    const load = condition === 'loaded' ? startLoad() : [];
    await new Promise((resolve) => setTimeout(resolve, 300)); // let the load take the cores
    const order = round % 2 === 0 ? sides : [...sides].reverse();
    for (const threads of order) samples[condition].get(threads)!.push(await tg(threads));
    await stopLoad(load);
  }
  console.error(`round ${round + 1}/${rounds}`);
}

const table: Record<string, unknown>[] = [];
for (const condition of Object.keys(samples) as Condition[]) {
  const reference = samples[condition].get(cores)!;
  for (const threads of sides) {
    const values = samples[condition].get(threads)!;
    const ratios = values.map((value, i) => value / reference[i]);
    const [low, high] = medianInterval(values);
    table.push({
      condition,
      threads: threads === chosen ? `${threads} (default)` : String(threads),
      'median tok/s': +quantile(values, 0.5).toFixed(1),
      '95% interval': `${low.toFixed(1)}-${high.toFixed(1)}`,
      [`ratio to ${cores} threads`]: +quantile(ratios, 0.5).toFixed(2),
    });
  }
}
console.table(table);

const out = join(root, 'bench', 'results', `contention-${describeMachine().host.replace(/[^\w.-]/g, '_')}.json`);
await mkdir(dirname(out), { recursive: true });
await writeFile(out, JSON.stringify({ date: new Date().toISOString(), machine: describeMachine(), rounds, tokens, defaultThreads: chosen, table, samples: Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, Object.fromEntries(v)])) }, null, 2));
console.error(`wrote ${out}`);
for (const context of contexts.values()) await context.dispose();
await model.dispose();
await rm(dir, { recursive: true, force: true });
