/**
 * What the WebAPI adds on top of the library, in one run on stories260K:
 *
 * 1. The same short completion (temperature 0, 16 tokens) in-process (LocalLlm) and through HTTP
 *    (`/v1/chat/completions`, non-streaming and SSE), interleaved rep by rep. Reported: total time
 *    and time to first token (TTFT) p50/p99 of each, and the added latency (HTTP minus in-process
 *    at the same percentile). Target: added p50 < 2 ms.
 * 2. A ~1,000-token persona (a saved prompt used as `model`) with a short input: TTFT of the
 *    first (cold, empty KV cache) call against the second call with another input, which reuses
 *    the persona's KV prefix. Target: second < 15% of cold.
 *
 * The HTTP client is `fetch` in the same process, so its own cost is part of "added".
 *
 * Usage: AKACHAT_TEST_MODELS=/path/to/models npx tsx bench/http.bench.ts [--reps 60] [--threads 1]
 * Writes bench/results/http-<host>.json.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Akachat } from '../src/akachat.js';
import { serve } from '../src/http/serve.js';
import type { LocalLlm } from '../src/llm/local.js';
import { DEFAULT_GENERATION_SETTINGS } from '../src/prompt/options.js';
import { sharedModel } from '../test/support/models.js';
import { describeMachine } from './machine.js';
import { quantile } from './stats.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values: args } = parseArgs({
  options: {
    reps: { type: 'string', default: '60' },
    // One thread by default: on a machine shared with other work, llama.cpp's spinning thread
    // pool makes tiny-model timings erratic, which would drown the few milliseconds measured here.
    threads: { type: 'string', default: '1' },
  },
});
const reps = Number(args.reps);
const threads = Number(args.threads);

const model = sharedModel('stories');
if (!model) {
  console.error('This benchmark needs stories260K.gguf: set AKACHAT_TEST_MODELS to the shared models folder.');
  process.exit(2);
}

const stats = (values: number[]) => ({ p50: quantile(values, 0.5), p99: quantile(values, 0.99), n: values.length });

const dataDir = await mkdtemp(join(tmpdir(), 'akachat-bench-'));
const akachat = new Akachat({ dataDir, defaultModel: model, models: { keepAliveMs: 0, threads } });
const server = await serve(akachat, { port: 0 });
const local = akachat.location('local') as LocalLlm;

const messages = [{ role: 'user' as const, content: 'Tell me a story about a cat.' }];
const maxTokens = 16;

async function inProcess(): Promise<{ total: number; ttft: number }> {
  const started = performance.now();
  let ttft = NaN;
  const stream = local.stream({ messages, settings: { ...DEFAULT_GENERATION_SETTINGS, stop: [], temperature: 0, maxTokens }, model: model! });
  for await (const _ of stream) if (Number.isNaN(ttft)) ttft = performance.now() - started;
  const result = await stream.result;
  if (result.usage.completionTokens !== maxTokens) throw new Error(`expected ${maxTokens} tokens, got ${result.usage.completionTokens}`);
  return { total: performance.now() - started, ttft };
}

const chatBody = (stream: boolean, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ messages, max_tokens: maxTokens, temperature: 0, stream, ...extra });

async function httpWhole(): Promise<{ total: number }> {
  const started = performance.now();
  const response = await fetch(`${server.url}/v1/chat/completions`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: chatBody(false) });
  const body = await response.json() as { usage: { completion_tokens: number } };
  if (body.usage.completion_tokens !== maxTokens) throw new Error(`HTTP: expected ${maxTokens} tokens`);
  return { total: performance.now() - started };
}

/** Streams an SSE chat; TTFT = arrival of the first content delta. */
async function httpSse(body: string): Promise<{ total: number; ttft: number }> {
  const started = performance.now();
  const response = await fetch(`${server.url}/v1/chat/completions`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body });
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let ttft = NaN;
  let text = '';
  for (let r = await reader.read(); !r.done; r = await reader.read()) {
    text += decoder.decode(r.value, { stream: true });
    if (Number.isNaN(ttft) && text.includes('"content":"') && !text.includes('"content":""')) ttft = performance.now() - started;
  }
  if (!text.endsWith('data: [DONE]\n\n')) throw new Error('SSE stream did not end with [DONE]');
  return { total: performance.now() - started, ttft };
}

// Warm-up: model load, first decode, JIT.
for (let i = 0; i < 5; i++) {
  await inProcess();
  await httpWhole();
  await httpSse(chatBody(true));
}

const samples = { inTotal: [] as number[], inTtft: [] as number[], wholeTotal: [] as number[], sseTotal: [] as number[], sseTtft: [] as number[] };
for (let i = 0; i < reps; i++) {
  const a = await inProcess();
  samples.inTotal.push(a.total);
  samples.inTtft.push(a.ttft);
  samples.wholeTotal.push((await httpWhole()).total);
  const s = await httpSse(chatBody(true));
  samples.sseTotal.push(s.total);
  samples.sseTtft.push(s.ttft);
}

// Persona: ~1,000 tokens of fixed instruction, short inputs.
const lease = await akachat.models.acquire(model);
const sentence = 'Lily is a kind little girl who lives in a small house near the big green park with her mom, her dad and her dog Max. ';
let persona = '';
while (lease.model.tokenize(persona + sentence).length < 1000) persona += sentence;
const personaTokens = lease.model.tokenize(persona).length;
lease.context.clearCache();
lease.release();
await akachat.prompts.save('persona', persona, { max_new_tokens: 8, temperature: 0 });
const personaCall = (input: string) => httpSse(JSON.stringify({ model: 'persona', messages: [{ role: 'user', content: input }], stream: true }));
const personaRuns: Array<{ cold: number; warm: number }> = [];
for (let i = 0; i < 5; i++) {
  const clear = await akachat.models.acquire(model);
  clear.context.clearCache();
  clear.release();
  const cold = await personaCall(`Hello! (${i})`);
  const warm = await personaCall(`How are you? (${i})`);
  personaRuns.push({ cold: cold.ttft, warm: warm.ttft });
}
const coldTtft = quantile(personaRuns.map((r) => r.cold), 0.5);
const warmTtft = quantile(personaRuns.map((r) => r.warm), 0.5);

const results = {
  benchmark: 'http',
  date: new Date().toISOString(),
  machine: describeMachine(),
  model: 'stories260K',
  threads,
  reps,
  shortCompletion: {
    maxTokens,
    inProcess: { total: stats(samples.inTotal), ttft: stats(samples.inTtft) },
    httpNonStreaming: { total: stats(samples.wholeTotal) },
    httpSse: { total: stats(samples.sseTotal), ttft: stats(samples.sseTtft) },
    addedMs: {
      nonStreamingTotal: { p50: quantile(samples.wholeTotal, 0.5) - quantile(samples.inTotal, 0.5), p99: quantile(samples.wholeTotal, 0.99) - quantile(samples.inTotal, 0.99) },
      sseTotal: { p50: quantile(samples.sseTotal, 0.5) - quantile(samples.inTotal, 0.5), p99: quantile(samples.sseTotal, 0.99) - quantile(samples.inTotal, 0.99) },
      sseTtft: { p50: quantile(samples.sseTtft, 0.5) - quantile(samples.inTtft, 0.5), p99: quantile(samples.sseTtft, 0.99) - quantile(samples.inTtft, 0.99) },
    },
  },
  persona: {
    tokens: personaTokens,
    coldTtftMs: coldTtft,
    warmTtftMs: warmTtft,
    warmOverCold: warmTtft / coldTtft,
    runs: personaRuns,
  },
  targets: { addedP50BelowMs: 2, warmOverColdBelow: 0.15 },
};

const ms = (value: number) => value.toFixed(2).padStart(8);
const added = results.shortCompletion.addedMs;
console.log(`\nakachat HTTP benchmark: stories260K, ${maxTokens} tokens, temperature 0, ${reps} reps, ${threads} thread(s)\n`);
console.log('                          total p50  total p99   TTFT p50   TTFT p99   (ms)');
console.log(`in-process (LocalLlm)     ${ms(quantile(samples.inTotal, 0.5))}   ${ms(quantile(samples.inTotal, 0.99))}   ${ms(quantile(samples.inTtft, 0.5))}   ${ms(quantile(samples.inTtft, 0.99))}`);
console.log(`HTTP non-streaming        ${ms(quantile(samples.wholeTotal, 0.5))}   ${ms(quantile(samples.wholeTotal, 0.99))}          -          -`);
console.log(`HTTP SSE                  ${ms(quantile(samples.sseTotal, 0.5))}   ${ms(quantile(samples.sseTotal, 0.99))}   ${ms(quantile(samples.sseTtft, 0.5))}   ${ms(quantile(samples.sseTtft, 0.99))}`);
console.log(`added, non-streaming      ${ms(added.nonStreamingTotal.p50)}   ${ms(added.nonStreamingTotal.p99)}   (target p50 < 2 ms: ${added.nonStreamingTotal.p50 < 2 ? 'met' : 'NOT met'})`);
console.log(`added, SSE                ${ms(added.sseTotal.p50)}   ${ms(added.sseTotal.p99)}   ${ms(added.sseTtft.p50)}   ${ms(added.sseTtft.p99)}   (target p50 < 2 ms: ${added.sseTotal.p50 < 2 ? 'met' : 'NOT met'})`);
console.log(`\npersona of ${personaTokens} tokens, short input, TTFT through HTTP (median of 5):`);
console.log(`  cold ${coldTtft.toFixed(2)} ms, second call ${warmTtft.toFixed(2)} ms = ${(100 * warmTtft / coldTtft).toFixed(1)}% of cold (target < 15%: ${warmTtft / coldTtft < 0.15 ? 'met' : 'NOT met'})`);

const out = join(root, 'bench', 'results', `http-${hostname()}.json`);
await mkdir(dirname(out), { recursive: true });
await writeFile(out, JSON.stringify(results, null, 2) + '\n');
console.log(`\nwritten to ${out}`);

await server.close();
await akachat.dispose();
await rm(dataDir, { recursive: true, force: true });
