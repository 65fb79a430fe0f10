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
 * interval. On a shared machine wall time swings with other processes' load, so each round also
 * records the CPU time per generated token of each side's process (Linux: llama-server's from
 * /proc; akachat's is this process's, so it includes the JavaScript that drives both sides'
 * clients while akachat runs), and the results carry the load average before and after.
 *
 *
 * Then personas (akachat only, time to the first token of a persona of about `persona-tokens`
 * tokens plus a short question, median of `rounds` interleaved rounds, ratio to a cold call):
 *   cold: the persona not cached; warm: the persona in its slot; alternating: two personas taking
 *   turns on a 2-slot context, each keeping its slot; restored: a fresh context whose slot is
 *   restored from a file saved earlier (`loadSlot`, timed), as after a restart.
 *
 * Usage: npx tsx bench/slots.bench.ts [-- --rounds 5 --tokens 64 --requests 2 --parallel 4
 *          --threads N --model PATH --llama-server PATH --persona-tokens 300 --skip-personas]
 * Writes bench/results/slots-<model>-<cpu|cuda>-t<threads>-<host>.json.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { defaultThreads, Model, systemInfo, type Context } from '../src/engine/index.js';
import { startLlamaServer } from './llama-server.js';
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
    'persona-tokens': { type: 'string', default: '300' },
    'skip-personas': { type: 'boolean', default: false },
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

type Side = 'akachat' | 'llama-server';
/**
 * One round on one side: `clients` clients, `requests` requests each; returns aggregate tok/s,
 * the CPU ms per generated token of the side's process (`cpuMs`; NaN where unknown) and the
 * llama_decode calls per generated token (`decodes`: fewer means requests shared more steps).
 */
async function runClients(clients: number, request: (c: number, r: number) => Promise<number>, cpuMs: () => number, decodes: () => Promise<number>): Promise<{ tokensPerSecond: number; cpuPerToken: number; decodesPerToken: number }> {
  const decodesStart = await decodes();
  const cpuStart = cpuMs();
  const start = performance.now();
  const counts = await Promise.all(Array.from({ length: clients }, async (_, c) => {
    let n = 0;
    for (let r = 0; r < requests; r++) n += await request(c, r);
    return n;
  }));
  const seconds = (performance.now() - start) / 1000;
  const tokens = counts.reduce((a, b) => a + b, 0);
  const cpuPerToken = (cpuMs() - cpuStart) / tokens;
  return { tokensPerSecond: tokens / seconds, cpuPerToken, decodesPerToken: (await decodes() - decodesStart) / tokens };
}

const ownCpuMs = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
};
/** User + system CPU ms of process `pid` from /proc (clock ticks of 10 ms, as Linux reports them); NaN elsewhere. */
function processCpuMs(pid: number | undefined): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return NaN;
  }
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
const server = await startLlamaServer(bin, ['--metrics', '-m', modelPath, '-t', String(threads), '-tb', String(threads), '-c', String(contextSize * parallel), '--parallel', String(parallel), '-ngl', String(gpuLayers), '--no-webui']);
const sides: Record<Side, (c: number, r: number) => Promise<number>> = {
  akachat: (c, r) => akachatRequest(ctx, c, r),
  'llama-server': (c, r) => serverRequest(server.url, c, r),
};
const cpuOf: Record<Side, () => number> = { akachat: ownCpuMs, 'llama-server': () => processCpuMs(server.child.pid) };
/** llama_decode calls so far: the context's count, llama-server's n_decode_total metric. */
const decodesOf: Record<Side, () => Promise<number>> = {
  akachat: async () => ctx.info.decodes,
  'llama-server': async () => {
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    return Number(/^llamacpp:n_decode_total (\S+)$/m.exec(metrics)?.[1] ?? NaN);
  },
};
const loadBefore = loadavg();

interface Summary { median: number; min: number; max: number; rounds: number[] }
interface Row {
  clients: number;
  akachat: Summary;
  llamaServer: Summary;
  medianRatio: number;
  medianInterval: [number, number];
  /** CPU ms per generated token of each side's process, and the median round ratio akachat / llama-server. */
  cpuPerToken: { akachat: Summary; llamaServer: Summary; medianRatio: number };
  /** llama_decode calls per generated token of each side. */
  decodesPerToken: { akachat: Summary; llamaServer: Summary };
}
const seen = new Map<number, Record<Side, number[]>>(clientCounts.map((c) => [c, { akachat: [], 'llama-server': [] }]));
const cpuSeen = new Map<number, Record<Side, number[]>>(clientCounts.map((c) => [c, { akachat: [], 'llama-server': [] }]));
const decodesSeen = new Map<number, Record<Side, number[]>>(clientCounts.map((c) => [c, { akachat: [], 'llama-server': [] }]));
try {
  // Warm-up: both sides once at the largest client count (first-time allocations, page faults).
  for (const side of ['akachat', 'llama-server'] as Side[]) await runClients(Math.max(...clientCounts), sides[side], cpuOf[side], decodesOf[side]);
  for (let round = 0; round < rounds; round++) {
    for (const clients of clientCounts) {
      const order: Side[] = round % 2 === 0 ? ['akachat', 'llama-server'] : ['llama-server', 'akachat'];
      for (const side of order) {
        await new Promise((r) => setTimeout(r, 100)); // compute threads of the other side go idle
        const { tokensPerSecond, cpuPerToken, decodesPerToken } = await runClients(clients, sides[side], cpuOf[side], decodesOf[side]);
        seen.get(clients)![side].push(tokensPerSecond);
        cpuSeen.get(clients)![side].push(cpuPerToken);
        decodesSeen.get(clients)![side].push(decodesPerToken);
      }
    }
    console.error(`round ${round + 1}/${rounds} done`);
  }
} finally {
  server.child.kill();
}
const loadAfter = loadavg();

// ---- personas ----------------------------------------------------------------------------------
const personaCases = ['cold', 'warm', 'alternating', 'restored'] as const;
type PersonaCase = typeof personaCases[number];
const personaTimes: Record<PersonaCase, number[]> = { cold: [], warm: [], alternating: [], restored: [] };
/** Time to the first token of each persona case, `rounds` interleaved rounds (adds to personaTimes). */
async function measurePersonas(): Promise<void> {
  const stateDir = await mkdtemp(join(tmpdir(), 'akachat-slots-bench-'));
  try {
    const personaOf = (name: string) => {
      let text = `You are ${name}, a storyteller.`;
      for (let i = 0; model.tokenize(text).length < Number(args['persona-tokens']); i++) text += ` ${name} once saw ${topics[i % topics.length]} near ${topics[(i * 3 + 1) % topics.length]}.`;
      return text;
    };
    const [personaA, personaB] = [personaOf('Lily'), personaOf('Tom')];
    const personaContext = Math.max(contextSize, 2 ** Math.ceil(Math.log2(model.tokenize(personaA).length + 64)));
    const firstToken = async (c: Context, prompt: string) => {
      const start = performance.now();
      await c.generate(prompt, { temperature: 0, maxTokens: 1 }).result;
      return performance.now() - start;
    };
    const single = await model.createContext({ contextSize: personaContext, threads, parallel: 1 });
    const pair = await model.createContext({ contextSize: personaContext, threads, parallel: 2 });
    await firstToken(single, `${personaA} Hello`);
    await single.saveSlot(0, join(stateDir, 'a.kv'));
    for (let round = 0; round < rounds; round++) {
      const runs: Record<PersonaCase, () => Promise<number>> = {
        cold: async () => { single.clearCache(); return firstToken(single, `${personaA} Question ${round}?`); },
        warm: async () => { await firstToken(single, `${personaA} Hi`); return firstToken(single, `${personaA} Question ${round}?`); },
        alternating: async () => {
          await firstToken(pair, `${personaA} Hi`);
          await firstToken(pair, `${personaB} Hi`);
          return ((await firstToken(pair, `${personaA} Question ${round}?`)) + (await firstToken(pair, `${personaB} Question ${round}?`))) / 2;
        },
        restored: async () => {
          const fresh = await model.createContext({ contextSize: personaContext, threads, parallel: 1 });
          try {
            const start = performance.now();
            await fresh.loadSlot(0, join(stateDir, 'a.kv'));
            await fresh.generate(`${personaA} Question ${round}?`, { temperature: 0, maxTokens: 1 }).result;
            return performance.now() - start;
          } finally {
            fresh.dispose();
          }
        },
      };
      const order = round % 2 === 0 ? personaCases : [...personaCases].reverse();
      for (const name of order) personaTimes[name].push(await runs[name]());
    }
    single.dispose();
    pair.dispose();
  } finally {
    model.dispose();
    await rm(stateDir, { recursive: true, force: true });
  }
}
if (args['skip-personas']) model.dispose();
else await measurePersonas();
const personaRows = personaCases.map((name) => {
  const ratios = personaTimes[name].map((ms, i) => ms / personaTimes.cold[i]);
  return { case: name, ms: { median: quantile(personaTimes[name], 0.5), min: Math.min(...personaTimes[name]), max: Math.max(...personaTimes[name]), rounds: personaTimes[name] }, medianRatioToCold: quantile(ratios, 0.5), medianInterval: medianInterval(ratios) };
});

const summary = (values: number[]) => ({ median: quantile(values, 0.5), min: Math.min(...values), max: Math.max(...values), rounds: values });
const rows: Row[] = clientCounts.map((clients) => {
  const s = seen.get(clients)!;
  const ratios = s.akachat.map((v, i) => v / s['llama-server'][i]);
  const cpu = cpuSeen.get(clients)!;
  const cpuRatios = cpu.akachat.map((v, i) => v / cpu['llama-server'][i]);
  const decodes = decodesSeen.get(clients)!;
  return {
    clients, akachat: summary(s.akachat), llamaServer: summary(s['llama-server']), medianRatio: quantile(ratios, 0.5), medianInterval: medianInterval(ratios),
    cpuPerToken: { akachat: summary(cpu.akachat), llamaServer: summary(cpu['llama-server']), medianRatio: quantile(cpuRatios, 0.5) },
    decodesPerToken: { akachat: summary(decodes.akachat), llamaServer: summary(decodes['llama-server']) },
  };
});

console.log(`\n${basename(modelPath)}: parallel=${parallel} threads=${threads} tokens=${tokens} requests/client=${requests} rounds=${rounds} gpuLayers=${gpuLayers}`);
console.log('| clients | llama-server tok/s median (min-max) | akachat tok/s median (min-max) | median round ratio (95% interval) |\n| ---: | ---: | ---: | ---: |');
const fmt = (s: { median: number; min: number; max: number }, digits = 1) => `${s.median.toFixed(digits)} (${s.min.toFixed(digits)}-${s.max.toFixed(digits)})`;
for (const r of rows) console.log(`| ${r.clients} | ${fmt(r.llamaServer)} | ${fmt(r.akachat)} | ${r.medianRatio.toFixed(3)}x (${r.medianInterval.map((v) => v.toFixed(3)).join('-')}) |`);
console.log('\nCPU ms per generated token (each side\'s process):\n| clients | llama-server median (min-max) | akachat median (min-max) | median round ratio |\n| ---: | ---: | ---: | ---: |');
for (const r of rows) console.log(`| ${r.clients} | ${fmt(r.cpuPerToken.llamaServer, 2)} | ${fmt(r.cpuPerToken.akachat, 2)} | ${r.cpuPerToken.medianRatio.toFixed(3)}x |`);
console.log('\nllama_decode calls per generated token (fewer: requests shared more steps):\n| clients | llama-server median (min-max) | akachat median (min-max) |\n| ---: | ---: | ---: |');
for (const r of rows) console.log(`| ${r.clients} | ${fmt(r.decodesPerToken.llamaServer, 3)} | ${fmt(r.decodesPerToken.akachat, 3)} |`);
console.log(`load average (1, 5, 15 min) before ${loadBefore.map((v) => v.toFixed(2)).join(', ')}, after ${loadAfter.map((v) => v.toFixed(2)).join(', ')}`);
if (!args['skip-personas']) {
  console.log(`\npersonas (~${args['persona-tokens']} tokens), time to the first token:`);
  console.log('| case | ms median (min-max) | median round ratio to cold (95% interval) |\n| --- | ---: | ---: |');
}
if (!args['skip-personas']) for (const r of personaRows) console.log(`| ${r.case} | ${r.ms.median.toFixed(2)} (${r.ms.min.toFixed(2)}-${r.ms.max.toFixed(2)}) | ${r.medianRatioToCold.toFixed(3)}x (${r.medianInterval.map((v) => v.toFixed(3)).join('-')}) |`);
const machine = describeMachine();
const file = join(root, 'bench', 'results', `slots-${basename(modelPath, '.gguf')}-${systemInfo().cuda && args.gpu ? 'cuda' : 'cpu'}-t${threads}-${machine.host}.json`);
await mkdir(dirname(file), { recursive: true });
await writeFile(file, JSON.stringify({
  date: new Date().toISOString(), machine, loadAverage: { before: loadBefore, after: loadAfter }, model: basename(modelPath), threads, parallel, contextSizePerSlot: contextSize, tokens, requestsPerClient: requests, rounds, gpuLayers,
  method: 'aggregate generated tokens / wall time for N clients each sending requests one after another; akachat engine in-process vs llama-server /completion over localhost HTTP; sides alternate each round; median round ratio with a 95% bootstrap interval',
  rows,
  personas: args['skip-personas'] ? undefined : { tokens: Number(args['persona-tokens']), method: 'time from generate() to the first token (maxTokens 1); restored includes loadSlot; cases interleaved per round', rows: personaRows },
}, null, 2) + '\n');
console.log(`\nwritten ${file}`);
