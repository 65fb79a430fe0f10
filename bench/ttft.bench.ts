/**
 * Streaming time to first token of a short chat over HTTP: akachat's WebAPI against llama.cpp's
 * llama-server built from the same vendored tree and flags (`--target llama-server`), same model,
 * same threads, one request at a time, the two sides alternating request by request. Both get
 * `POST /v1/chat/completions` with `stream: true`; the time is from sending the request to the
 * first chunk carrying text. Target (issue 14): akachat's p50 <= 1.1x llama-server's.
 *
 * Usage: npx tsx bench/ttft.bench.ts [-- --requests 40 --threads 1 --model PATH --llama-server PATH]
 * Writes bench/results/ttft-<model>-t<threads>-<host>.json.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Akachat } from '../src/akachat.js';
import { serve } from '../src/http/serve.js';
import { startLlamaServer } from './llama-server.js';
import { describeMachine } from './machine.js';
import { medianInterval, quantile } from './stats.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values: args } = parseArgs({
  options: {
    requests: { type: 'string', default: '40' },
    threads: { type: 'string', default: '1' },
    model: { type: 'string' },
    'llama-server': { type: 'string' },
  },
});
const requests = Number(args.requests);
const threads = Number(args.threads);
const modelPath = args.model ?? join(process.env.AKACHAT_TEST_MODELS ?? join(root, '..', 'shared', 'models'), 'stories260K.gguf');
const serverBin = args['llama-server'] ?? [join(root, 'build-slots', 'llama-server', 'llama-server'), join(root, 'build', 'llama-server', 'llama-server')].find(existsSync);
if (!existsSync(modelPath)) throw new Error(`model not found: ${modelPath} (--model or AKACHAT_TEST_MODELS)`);
if (!serverBin) throw new Error('llama-server not found: build it with AKACHAT_BUILD_DIR=build-slots node scripts/build-native.mjs --target llama-server, or pass --llama-server');

/** ms from the request to the first SSE chunk with text in `delta.content`. */
async function ttft(url: string, n: number): Promise<number> {
  const started = performance.now();
  const response = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ model: 'default', messages: [{ role: 'user', content: `Tell me a story number ${n % 7}.` }], max_tokens: 4, temperature: 0, stream: true }),
  });
  if (!response.ok) throw new Error(`${url} answered ${response.status}: ${await response.text()}`);
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let first: number | undefined;
  for (let r = await reader.read(); !r.done; r = await reader.read()) {
    buffer += decoder.decode(r.value, { stream: true });
    if (first === undefined) {
      for (const line of buffer.split('\n')) {
        if (!line.startsWith('data: ') || line === 'data: [DONE]') continue;
        try {
          if (JSON.parse(line.slice(6)).choices?.[0]?.delta?.content) first = performance.now() - started;
        } catch {
          // a line cut by the network read: the next read completes it
        }
      }
    }
  }
  if (first === undefined) throw new Error(`${url}: no text in the stream`);
  return first;
}

const dataDir = await mkdtemp(join(tmpdir(), 'akachat-ttft-'));
const akachat = new Akachat({ dataDir, defaultModel: modelPath, rag: null, models: { keepAliveMs: 0, threads } });
const ours = await serve(akachat, { port: 0, onServerError: () => {} });
const theirs = await startLlamaServer(serverBin, ['-m', modelPath, '-t', String(threads), '-tb', String(threads), '-c', '4096', '--parallel', '1', '--no-webui']);
const sides = { akachat: ours.url, 'llama-server': theirs.url } as const;
type Side = keyof typeof sides;
const times: Record<Side, number[]> = { akachat: [], 'llama-server': [] };
try {
  for (const side of Object.keys(sides) as Side[]) for (let i = 0; i < 3; i++) await ttft(sides[side], i); // warm-up: loads, caches, workers
  for (let i = 0; i < requests; i++) {
    const order: Side[] = i % 2 === 0 ? ['akachat', 'llama-server'] : ['llama-server', 'akachat'];
    for (const side of order) times[side].push(await ttft(sides[side], i));
  }
} finally {
  theirs.child.kill();
  await ours.close();
  await akachat.dispose();
  await rm(dataDir, { recursive: true, force: true });
}

const ratios = times.akachat.map((t, i) => t / times['llama-server'][i]);
const p = (values: number[], q: number) => +quantile(values, q).toFixed(2);
const [low, high] = medianInterval(ratios);
const result = {
  date: new Date().toISOString(),
  machine: describeMachine(),
  model: basename(modelPath),
  threads,
  requests,
  method: 'streaming /v1/chat/completions, one request at a time, sides alternating; time from the request to the first chunk with text',
  akachat: { p50: p(times.akachat, 0.5), p10: p(times.akachat, 0.1), p90: p(times.akachat, 0.9) },
  llamaServer: { p50: p(times['llama-server'], 0.5), p10: p(times['llama-server'], 0.1), p90: p(times['llama-server'], 0.9) },
  p50Ratio: +(quantile(times.akachat, 0.5) / quantile(times['llama-server'], 0.5)).toFixed(3),
  medianPairRatio: +quantile(ratios, 0.5).toFixed(3),
  medianPairRatioInterval: [+low.toFixed(3), +high.toFixed(3)],
  times,
};
console.log(`TTFT ms, ${basename(modelPath)}, threads ${threads}, ${requests} requests each`);
console.table({ akachat: result.akachat, 'llama-server': result.llamaServer });
console.log(`p50 ratio akachat / llama-server: ${result.p50Ratio} (median of paired ratios ${result.medianPairRatio}, 95% interval ${low.toFixed(2)}-${high.toFixed(2)})`);
const out = join(root, 'bench', 'results', `ttft-${basename(modelPath, '.gguf')}-t${threads}-${describeMachine().host.replace(/[^\w.-]/g, '_')}.json`);
await mkdir(dirname(out), { recursive: true });
await writeFile(out, JSON.stringify(result, null, 2));
console.error(`wrote ${out}`);
