/**
 * Engine speed against llama.cpp's own llama-bench, built from the same vendored tree with
 * the same flags (`cmake-js build --target llama-bench`), in one run:
 *   pp512: prompt processing of 512 tokens, tokens/s
 *   tg128: generation of 128 tokens one at a time, tokens/s (awaiting `result`)
 *   tg128 streamed: the same, reading the text as it comes (`for await`); its reference is
 *     llama-bench's tg128, so the row shows what streaming to JS costs
 * on (a) stories260K (per-token overhead dominates) and (b) a generated random-weight Llama of
 * a few hundred million parameters (Q4_K_M through akachat's quantize). akachat's times are
 * wall-clock times seen from JavaScript (generate() call to result), so they include the
 * binding's thread hand-offs, sampling and promise overheads. Target: >= 0.97x on every row.
 *
 * Usage: npm run bench:engine [-- --reps 1 --rounds 25 --threads N --skip-big --gpu --llama-bench PATH --control]
 * --control runs llama-bench in akachat's place (an A/A run): its ratios show the method's own
 * noise on this machine (written to engine-control-...json).
 * (threads default: defaultThreads(), which is also llama-bench's default).
 * Writes bench/results/engine-<cpu|cuda>-t<threads>-<host>.json.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { defaultThreads, Model, quantize, systemInfo } from '../src/engine/index.js';
import { writeRandomLlama } from '../test/support/gguf-writer.js';
import { describeMachine } from './machine.js';
import { medianInterval, quantile } from './stats.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values: args } = parseArgs({
  options: {
    reps: { type: 'string', default: '1' },
    rounds: { type: 'string', default: '25' },
    threads: { type: 'string', default: String(defaultThreads()) },
    'skip-big': { type: 'boolean', default: false },
    control: { type: 'boolean', default: false },
    gpu: { type: 'boolean', default: false },
    'big-model': { type: 'string' },
    'llama-bench': { type: 'string' },
  },
});
const reps = Number(args.reps);
const rounds = Number(args.rounds);
const threads = Number(args.threads);
const gpuLayers = args.gpu ? 99 : 0;

function llamaBenchPath(): string {
  if (args['llama-bench']) return args['llama-bench'];
  const bin = join(root, 'build', 'llama-bench', 'llama-bench');
  const alt = join(root, 'build', 'bin', 'llama-bench');
  if (!existsSync(bin) && !existsSync(alt)) {
    console.error('building llama-bench from the vendored llama.cpp (same flags as the addon)...');
    execFileSync(process.execPath, [join(root, 'scripts', 'build-native.mjs'), '--target', 'llama-bench'], { stdio: 'inherit' });
  }
  return existsSync(bin) ? bin : alt;
}

const tests = ['pp512', 'tg128', 'tg128 streamed'] as const;
type Test = typeof tests[number];
type Rates = Record<Test, number>;
/** llama-bench's figure each akachat test is compared with. */
const reference: Record<Test, 'pp512' | 'tg128'> = { pp512: 'pp512', tg128: 'tg128', 'tg128 streamed': 'tg128' };

interface Row {
  model: string; test: Test; llamaBench: number; akachat: number; ratio: number; medianRatio: number;
  /** 95% bootstrap interval of the median round ratio. */
  medianInterval: [number, number];
  rounds: { llamaBench: number[]; akachat: number[] };
}

function runLlamaBench(bin: string, model: string): { pp512: number; tg128: number } {
  const out = execFileSync(bin, ['-m', model, '-p', '512', '-n', '128', '-t', String(threads), '-r', String(reps), '-ngl', String(gpuLayers), '-o', 'json'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 16 << 20 });
  const rows = JSON.parse(out) as { n_prompt: number; n_gen: number; avg_ts: number }[];
  return { pp512: rows.find((r) => r.n_prompt === 512 && r.n_gen === 0)!.avg_ts, tg128: rows.find((r) => r.n_gen === 128 && r.n_prompt === 0)!.avg_ts };
}

/** A llama-bench run in akachat's place (--control). */
const asRates = (r: { pp512: number; tg128: number }): Rates => ({ ...r, 'tg128 streamed': r.tg128 });

async function runAkachat(path: string): Promise<Rates> {
  const model = await Model.load(path, { gpuLayers });
  const vocab = model.info.vocabSize;
  let seed = 42;
  const randomToken = () => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return seed % vocab; };
  const prompt = Int32Array.from({ length: 512 }, (_, i) => (i === 0 && model.info.addBos ? model.info.bosToken : randomToken()));
  const bos = Int32Array.of(model.info.addBos ? model.info.bosToken : randomToken());

  // As llama-bench does: one test after the other, each in a context of its own (sized
  // n_prompt + n_gen, +1 so a prompt leaves room to generate) with a warm-up run, then reps.
  const test = async (tokens: Int32Array, maxTokens: number, contextSize: number, count: number, streamed = false) => {
    const ctx = await model.createContext({ contextSize, batchSize: 512, threads });
    const run = async (max: number) => {
      ctx.clearCache();
      const start = performance.now();
      const generation = ctx.generate(tokens, { maxTokens: max, temperature: 0, ignoreEos: true });
      if (streamed) for await (const _ of generation);
      const result = await generation.result;
      if (result.generatedTokens !== max) throw new Error(`expected ${max} generated tokens, got ${result.generatedTokens}`);
      return performance.now() - start;
    };
    await run(Math.min(maxTokens, 8));
    let rate = 0;
    for (let r = 0; r < reps; r++) rate += count / ((await run(maxTokens)) / 1000);
    ctx.dispose();
    return rate / reps;
  };
  const pp512 = await test(prompt, 0, 513, 512);
  // One prompt token + 127 generated tokens decoded = 128 decodes, as in llama-bench's tg128.
  const tg128 = await test(bos, 128, 129, 128);
  const tg128Streamed = await test(bos, 128, 129, 128, true);
  model.dispose();
  return { pp512, tg128, 'tg128 streamed': tg128Streamed };
}

async function bigModel(): Promise<string> {
  if (args['big-model']) return args['big-model'];
  const dir = join(root, 'bench', '.tmp');
  const q4 = join(dir, 'random-llama-270m-q4_k_m.gguf');
  if (existsSync(q4)) return q4;
  const f16 = join(dir, 'random-llama-270m-f16.gguf');
  console.error('generating a random-weight 270M-parameter Llama (F16) and quantizing it to Q4_K_M...');
  const { parameters } = await writeRandomLlama(f16, { embedding: 1024, layers: 16, heads: 16, headsKv: 8, feedForward: 2816, vocab: 32000, type: 'f16' });
  console.error(`  ${Math.round(parameters / 1e6)}M parameters`);
  await quantize(f16, q4, 'Q4_K_M');
  return q4;
}

const models: [string, string][] = [];
const stories = process.env.AKACHAT_TEST_MODELS ? join(process.env.AKACHAT_TEST_MODELS, 'stories260K.gguf') : join(root, '..', 'shared', 'models', 'stories260K.gguf');
if (existsSync(stories)) models.push(['stories260K (F32)', stories]);
else console.error(`stories260K not found at ${stories}; set AKACHAT_TEST_MODELS`);
if (!args['skip-big']) models.push(['random Llama 270M (Q4_K_M)', await bigModel()]);

// Both sides run in alternation for several rounds. Shared machines (a VM with CPU steal)
// swing by tens of percent from one round to the next, so each row reports the ratio of the
// best rounds and the median of the per-round ratios (each round pairs runs made moments
// apart, so a slow spell of the machine hits both sides of a pair alike).
const bin = llamaBenchPath();
const rows: Row[] = [];
for (const [name, path] of models) {
  const perTest = () => Object.fromEntries(tests.map((t) => [t, [] as number[]])) as Record<Test, number[]>;
  const seen = { llamaBench: perTest(), akachat: perTest() };
  for (let round = 0; round < rounds; round++) {
    // Which side goes first alternates, so neither always inherits the other's warm caches,
    // and each starts after a pause: right after a llama-bench process exits, this VM ran the
    // next few hundred milliseconds of single-thread decoding up to 35% slower.
    let theirs = { pp512: 0, tg128: 0 };
    let ours: Rates = { pp512: 0, tg128: 0, 'tg128 streamed': 0 };
    const sides = [async () => { theirs = runLlamaBench(bin, path); }, async () => { ours = args.control ? asRates(runLlamaBench(bin, path)) : await runAkachat(path); }];
    for (const side of round % 2 === 0 ? sides : sides.reverse()) {
      await new Promise((resolve) => setTimeout(resolve, 300));
      await side();
    }
    for (const test of tests) {
      seen.llamaBench[test].push(theirs[reference[test]]);
      seen.akachat[test].push(ours[test]);
    }
  }
  for (const test of tests) {
    const llamaBench = Math.max(...seen.llamaBench[test]);
    const akachat = Math.max(...seen.akachat[test]);
    const ratios = seen.akachat[test].map((ours, i) => ours / seen.llamaBench[test][i]);
    rows.push({
      model: name, test, llamaBench, akachat, ratio: akachat / llamaBench,
      medianRatio: quantile(ratios, 0.5), medianInterval: medianInterval(ratios),
      rounds: { llamaBench: seen.llamaBench[test], akachat: seen.akachat[test] },
    });
  }
}

console.log(`\nthreads=${threads} reps=${reps} rounds=${rounds} gpuLayers=${gpuLayers}${args.control ? ' (control: llama-bench against itself)' : ''}`);
console.log(`| model | test | llama-bench t/s (best) | ${args.control ? 'llama-bench again' : 'akachat'} t/s (best) | ratio of best | median round ratio (95% interval) |\n| --- | --- | ---: | ---: | ---: | ---: |`);
for (const r of rows) console.log(`| ${r.model} | ${r.test} | ${r.llamaBench.toFixed(1)} | ${r.akachat.toFixed(1)} | ${r.ratio.toFixed(3)}x | ${r.medianRatio.toFixed(3)}x (${r.medianInterval.map((v) => v.toFixed(3)).join('-')}) |`);
const machine = describeMachine();
const file = join(root, 'bench', 'results', `engine-${args.control ? 'control-' : ''}${systemInfo().cuda && args.gpu ? 'cuda' : 'cpu'}-t${threads}-${machine.host}.json`);
await mkdir(dirname(file), { recursive: true });
await writeFile(file, JSON.stringify({ date: new Date().toISOString(), machine, threads, reps, rounds, gpuLayers, control: args.control, method: 'llama-bench -r reps vs akachat reps wall-clock runs, alternating for rounds; ratio of the best rounds; median of the per-round ratios with a 95% bootstrap interval', rows }, null, 2) + '\n');
console.log(`\nwritten ${file}`);
