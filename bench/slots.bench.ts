/**
 * Many conversations on one model: aggregate generation throughput with 1, 4 and 8 concurrent
 * clients, akachat's engine (a context with `parallel` slots, one batched decode loop) against
 * llama.cpp's llama-server (`--parallel` slots) built from the same vendored tree with the same
 * flags (`node scripts/build-native.mjs --target llama-server`), in one run.
 *
 * Each client sends `requests` requests one after another: its own short prompt, `tokens`
 * greedy tokens (end-of-generation ignored). Aggregate tok/s = all generated tokens / wall time
 * from the first request to the last answer. akachat is called in-process (no HTTP); llama-server
 * through its /completion route on localhost (its HTTP time is included, as a client sees it).
 * Rounds alternate the sides (and which goes first); each row reports the median tok/s of each
 * side, with the spread (min-max), and the median of the per-round ratios with a 95% bootstrap
 * interval.
 *
 * Usage: npx tsx bench/slots.bench.ts [-- --rounds 5 --tokens 64 --requests 2 --parallel 4
 *          --threads N --model PATH --llama-server PATH]
 * Writes bench/results/slots-<cpu|cuda>-t<threads>-<host>.json.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { defaultThreads, Model, systemInfo, type Context } from '../src/engine/index.js';
import { describeMachine } from './machine.js';
import { medianInterval, quantile } from './stats.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    tokens: { type: 'string', default: '64' },
    requests: { type: 'string', default: '2' },
    parallel: { type: 'string', default: '4' },
    clients: { type: 'string', default: '1,4,8' },
    'context-size': { type: 'string', default: '256' },
    threads: { type: 'string', default: String(defaultThreads()) },
    gpu: { type: 'boolean', default: false },
    model: { type: 'string' },
    'llama-server': { type: 'string' },
  },
});
const rounds = Number(args.rounds);
const tokens = Number(args.tokens);
const requests = Number(args.requests);
const parallel = Number(args.parallel);
const clientCounts = args.clients.split(',').map(Number);
const contextSize = Number(args['context-size']);
const threads = Number(args.threads);
const gpuLayers = args.gpu ? 99 : 0;
const modelPath = args.model ?? join(process.env.AKACHAT_TEST_MODELS ?? join(root, '..', 'shared', 'models'), 'stories260K.gguf');
if (!existsSync(modelPath)) throw new Error(`Model not found: ${modelPath} (pass --model or set AKACHAT_TEST_MODELS)`);

const topics = ['a cat', 'the sea', 'a red ball', 'a small bird', 'the big tree', 'a funny dog', 'the moon', 'a toy car', 'the garden', 'a lost key'];
/** Client c's prompt for its r-th request: distinct per client, so slots share no prefix. */
const promptOf = (c: number, r: number) => `Once upon a time, ${topics[c % topics.length]} and ${topics[(c + r + 3) % topics.length]}`;

function llamaServerPath(): string {
  if (args['llama-server']) return args['llama-server'];
  const buildDir = join(root, process.env.AKACHAT_BUILD_DIR ?? 'build');
  const candidates = [join(buildDir, 'llama-server', 'llama-server'), join(buildDir, 'bin', 'llama-server')];
  if (!candidates.some(existsSync)) {
    console.error('building llama-server from the vendored llama.cpp (same flags as the addon)...');
    execFileSync(process.execPath, [join(root, 'scripts', 'build-native.mjs'), '--target', 'llama-server'], { stdio: 'inherit' });
  }
  return candidates.find(existsSync)!;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    }).on('error', reject);
  });
}

async function startLlamaServer(bin: string): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  const child = spawn(bin, ['-m', modelPath, '--host', '127.0.0.1', '--port', String(port), '-t', String(threads), '-tb', String(threads),
    '-c', String(contextSize * parallel), '--parallel', String(parallel), '-ngl', String(gpuLayers), '--no-webui'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr!.on('data', (d: Buffer) => { log = (log + d.toString()).slice(-4000); });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 600; i++) {
    if (child.exitCode !== null) throw new Error(`llama-server exited (${child.exitCode}):\n${log}`);
    const ok = await fetch(`${url}/health`).then((r) => r.ok, () => false);
    if (ok) return { url, child };
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill();
  throw new Error(`llama-server did not become ready:\n${log}`);
}

type Side = 'akachat' | 'llama-server';
/** One round on one side: `clients` clients, `requests` requests each; returns aggregate tok/s. */
async function runClients(clients: number, request: (c: number, r: number) => Promise<number>): Promise<number> {
  const start = performance.now();
  const counts = await Promise.all(Array.from({ length: clients }, async (_, c) => {
    let n = 0;
    for (let r = 0; r < requests; r++) n += await request(c, r);
    return n;
  }));
  return counts.reduce((a, b) => a + b, 0) / ((performance.now() - start) / 1000);
}

async function akachatRequest(ctx: Context, c: number, r: number): Promise<number> {
  const result = await ctx.generate(promptOf(c, r), { temperature: 0, maxTokens: tokens, ignoreEos: true }).result;
  return result.generatedTokens;
}

async function serverRequest(url: string, c: number, r: number): Promise<number> {
  const response = await fetch(`${url}/completion`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ prompt: promptOf(c, r), n_predict: tokens, temperature: 0, ignore_eos: true, cache_prompt: true, stream: false }),
  });
  if (!response.ok) throw new Error(`llama-server answered ${response.status}: ${await response.text()}`);
  const body = await response.json() as { tokens_predicted: number };
  return body.tokens_predicted;
}

const bin = llamaServerPath();
const model = await Model.load(modelPath, { gpuLayers });
const ctx = await model.createContext({ contextSize, threads, parallel });
const server = await startLlamaServer(bin);
const sides: Record<Side, (c: number, r: number) => Promise<number>> = {
  akachat: (c, r) => akachatRequest(ctx, c, r),
  'llama-server': (c, r) => serverRequest(server.url, c, r),
};

interface Row {
  clients: number;
  akachat: { median: number; min: number; max: number; rounds: number[] };
  llamaServer: { median: number; min: number; max: number; rounds: number[] };
  medianRatio: number;
  medianInterval: [number, number];
}
const seen = new Map<number, Record<Side, number[]>>(clientCounts.map((c) => [c, { akachat: [], 'llama-server': [] }]));
try {
  // Warm-up: both sides once at the largest client count (first-time allocations, page faults).
  for (const side of ['akachat', 'llama-server'] as Side[]) await runClients(Math.max(...clientCounts), sides[side]);
  for (let round = 0; round < rounds; round++) {
    for (const clients of clientCounts) {
      const order: Side[] = round % 2 === 0 ? ['akachat', 'llama-server'] : ['llama-server', 'akachat'];
      for (const side of order) {
        await new Promise((r) => setTimeout(r, 100)); // compute threads of the other side go idle
        seen.get(clients)![side].push(await runClients(clients, sides[side]));
      }
    }
    console.error(`round ${round + 1}/${rounds} done`);
  }
} finally {
  server.child.kill();
  model.dispose();
}

const summary = (values: number[]) => ({ median: quantile(values, 0.5), min: Math.min(...values), max: Math.max(...values), rounds: values });
const rows: Row[] = clientCounts.map((clients) => {
  const s = seen.get(clients)!;
  const ratios = s.akachat.map((v, i) => v / s['llama-server'][i]);
  return { clients, akachat: summary(s.akachat), llamaServer: summary(s['llama-server']), medianRatio: quantile(ratios, 0.5), medianInterval: medianInterval(ratios) };
});

console.log(`\n${basename(modelPath)}: parallel=${parallel} threads=${threads} tokens=${tokens} requests/client=${requests} rounds=${rounds} gpuLayers=${gpuLayers}`);
console.log('| clients | llama-server tok/s median (min-max) | akachat tok/s median (min-max) | median round ratio (95% interval) |\n| ---: | ---: | ---: | ---: |');
const fmt = (s: { median: number; min: number; max: number }) => `${s.median.toFixed(1)} (${s.min.toFixed(1)}-${s.max.toFixed(1)})`;
for (const r of rows) console.log(`| ${r.clients} | ${fmt(r.llamaServer)} | ${fmt(r.akachat)} | ${r.medianRatio.toFixed(3)}x (${r.medianInterval.map((v) => v.toFixed(3)).join('-')}) |`);
const machine = describeMachine();
const file = join(root, 'bench', 'results', `slots-${systemInfo().cuda && args.gpu ? 'cuda' : 'cpu'}-t${threads}-${machine.host}.json`);
await mkdir(dirname(file), { recursive: true });
await writeFile(file, JSON.stringify({
  date: new Date().toISOString(), machine, model: basename(modelPath), threads, parallel, contextSizePerSlot: contextSize, tokens, requestsPerClient: requests, rounds, gpuLayers,
  method: 'aggregate generated tokens / wall time for N clients each sending requests one after another; akachat engine in-process vs llama-server /completion over localhost HTTP; sides alternate each round; median round ratio with a 95% bootstrap interval',
  rows,
}, null, 2) + '\n');
console.log(`\nwritten ${file}`);
