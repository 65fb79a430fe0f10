import { availableParallelism } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AbortError } from '../../src/errors.js';
import { defaultThreads, Model, systemInfo, type Context } from '../../src/engine/index.js';
import { addonBuilt, sharedModel } from '../support/models.js';

const stories = addonBuilt ? sharedModel('stories') : undefined;
const PROMPT = 'Once upon a time';

describe.skipIf(!stories)('generation with stories260K', () => {
  let model: Model;
  let ctx: Context;
  beforeAll(async () => {
    model = await Model.load(stories!);
    ctx = await model.createContext({ contextSize: 1024 });
  });
  afterAll(() => model?.dispose());

  it('greedy decoding gives the same coherent English continuation on every run', async () => {
    const runs: string[] = [];
    for (let i = 0; i < 3; i++) {
      ctx.clearCache();
      runs.push((await ctx.generate(PROMPT, { temperature: 0, maxTokens: 60 }).result).text);
    }
    const fresh = await model.createContext({ contextSize: 1024 });
    runs.push(await fresh.generate(PROMPT, { temperature: 0, maxTokens: 60 }).text());
    fresh.dispose();
    expect(new Set(runs).size).toBe(1);
    const words = runs[0].trim().split(/\s+/);
    expect(words.length).toBeGreaterThan(25);
    // English prose: printable ASCII, mostly alphabetic words, sentences ending in a period.
    expect(runs[0]).toMatch(/^[\x20-\x7E\n]+$/);
    expect(words.filter((w) => /^[A-Za-z',.!?"]+$/.test(w)).length / words.length).toBeGreaterThan(0.9);
    expect(runs[0]).toMatch(/\./);
  });

  it('the same seed gives the same sampled text, other seeds differ', async () => {
    const sample = (seed: number) => ctx.generate(PROMPT, { temperature: 1, seed, maxTokens: 40 }).text();
    const a1 = await sample(42);
    const a2 = await sample(42);
    const others = await Promise.all([7, 8, 9].map(sample));
    expect(a1).toBe(a2);
    expect(others.some((t) => t !== a1)).toBe(true);
  });

  it('honours maxTokens and reports stats', async () => {
    const result = await ctx.generate(PROMPT, { temperature: 0, maxTokens: 7 }).result;
    expect(result.stopReason).toBe('maxTokens');
    expect(result.generatedTokens).toBe(7);
    expect(result.promptTokens).toBe(model.tokenize(PROMPT).length);
    expect(result.decodeMs).toBeGreaterThan(0);
  });

  it('stops at stop strings, also when they span tokens, and never emits them', async () => {
    const full = await ctx.generate(PROMPT, { temperature: 0, maxTokens: 60 }).text();
    // Pick a two-word stop string from the greedy continuation: it spans several tokens.
    const words = full.trim().split(/\s+/);
    const stop = `${words[3]} ${words[4]}`;
    const expected = full.slice(0, full.indexOf(stop));
    const gen = ctx.generate(PROMPT, { temperature: 0, maxTokens: 60, stop: ['NEVER-THERE', stop] });
    let streamed = '';
    for await (const chunk of gen) streamed += chunk;
    const result = await gen.result;
    expect(result.stopReason).toBe('stop');
    expect(streamed).toBe(expected);
    expect(result.text).toBe(expected);
    expect(streamed).not.toContain(stop);
  });

  it('break in for-await cancels the generation', async () => {
    const gen = ctx.generate(PROMPT, { temperature: 0 });
    let chunks = 0;
    for await (const _ of gen) if (++chunks === 3) break;
    const result = await gen.result;
    expect(result.stopReason).toBe('abort');
    expect(result.generatedTokens).toBeLessThan(200);
  });

  it('hands text over while generating only once something iterates', async () => {
    const options = { temperature: 0, maxTokens: 400, ignoreEos: true } as const;
    const collect = async (gen: AsyncIterable<string>) => { const chunks: string[] = []; for await (const c of gen) chunks.push(c); return chunks; };
    // Iterated from the start: many chunks while it runs.
    ctx.clearCache();
    const streamed = ctx.generate(PROMPT, options);
    const live = await collect(streamed);
    const full = (await streamed.result).text;
    expect(live.length).toBeGreaterThan(2);
    expect(live.join('')).toBe(full);
    // Only awaited: the text crossed over once, at the end, so a late reader sees one chunk.
    ctx.clearCache();
    const quiet = ctx.generate(PROMPT, options);
    expect((await quiet.result).text).toBe(full);
    expect(await collect(quiet)).toEqual([full]);
    // A reader that starts mid-way gets the text so far in one chunk, then the rest as it comes.
    ctx.clearCache();
    const late = ctx.generate(PROMPT, options);
    await new Promise((resolve) => setTimeout(resolve, 5));
    const rest = await collect(late);
    expect(rest.join('')).toBe(full);
    expect((await late.result).text).toBe(full);
  });

  it('the warm-up decode at creation leaves nothing behind', async () => {
    const warm = await model.createContext({ contextSize: 256 });
    const cold = await model.createContext({ contextSize: 256, warmup: false });
    expect(warm.cachedTokens).toBe(0);
    const [a, b] = [await warm.generate(PROMPT, { temperature: 0, maxTokens: 30 }).result, await cold.generate(PROMPT, { temperature: 0, maxTokens: 30 }).result];
    expect(a.reusedTokens).toBe(0);
    expect(a.text).toBe(b.text);
    warm.dispose();
    cold.dispose();
  });

  it('an AbortSignal stops generation mid-way with an AbortError', async () => {
    const controller = new AbortController();
    const gen = ctx.generate(PROMPT, { temperature: 0, signal: controller.signal });
    let received = '';
    const consume = (async () => { for await (const chunk of gen) { received += chunk; if (received.length > 20) controller.abort(); } })();
    await expect(consume).rejects.toBeInstanceOf(AbortError);
    await expect(gen.result).rejects.toMatchObject({ code: 'ABORTED' });
    expect(received.length).toBeGreaterThan(20);
    // The context is usable afterwards.
    expect((await ctx.generate(PROMPT, { temperature: 0, maxTokens: 3 }).result).generatedTokens).toBe(3);
  });

  it('keeps the event loop ticking while it generates', async () => {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    const started = performance.now();
    const result = await ctx.generate(PROMPT, { temperature: 0.8, seed: 1, maxTokens: 500 }).result;
    const elapsed = performance.now() - started;
    clearInterval(timer);
    expect(result.generatedTokens).toBeGreaterThan(100);
    // A blocked loop would give ~0 ticks; allow timer coarseness.
    expect(ticks).toBeGreaterThan(Math.min(5, elapsed / 10));
  });

  it('a second call sharing the prefix reuses tokens and gives the same text as a cold call', async () => {
    const persona = 'Once upon a time, there was a little girl named Lily. She loved to play outside.';
    const cold = await (async () => { ctx.clearCache(); return ctx.generate(`${persona} One day`, { temperature: 0, maxTokens: 30 }).result; })();
    expect(cold.reusedTokens).toBe(0);
    await ctx.generate(`${persona} The sun`, { temperature: 0, maxTokens: 5 }).result;
    const warm = await ctx.generate(`${persona} One day`, { temperature: 0, maxTokens: 30 }).result;
    const personaTokens = model.tokenize(persona).length;
    expect(warm.reusedTokens).toBeGreaterThanOrEqual(personaTokens - 1);
    expect(warm.text).toBe(cold.text);
  });

  it('a prompt that cannot fit gives a clear error naming the sizes', async () => {
    const small = await model.createContext({ contextSize: 64 });
    const long = 'Once upon a time there was a girl. '.repeat(40);
    await expect(small.generate(long).result).rejects.toThrow(/prompt has \d+ tokens but the context holds \d+/);
    expect((await small.generate(PROMPT, { maxTokens: 3 }).result).generatedTokens).toBeLessThanOrEqual(3);
    small.dispose();
  });

  it('an idle context burns no CPU: its compute threads sleep between generations', async () => {
    const two = await model.createContext({ contextSize: 256, threads: 2 });
    try {
      await two.generate(PROMPT, { temperature: 0, maxTokens: 20 }).result;
      await new Promise((r) => setTimeout(r, 100));  // past the context's short idle grace
      const before = process.cpuUsage();
      const start = performance.now();
      await new Promise((r) => setTimeout(r, 400));
      const used = process.cpuUsage(before);
      const busy = (used.user + used.system) / 1000 / (performance.now() - start);
      // A worker left polling for the next graph would keep a whole core busy (~1.0).
      expect(busy).toBeLessThan(0.2);
    } finally {
      two.dispose();
    }
  });

  it('defaultThreads() leaves one of the physical cores this process may use (at least 1 thread), unless AKACHAT_THREADS says', () => {
    const threads = defaultThreads();
    expect(Number.isInteger(threads)).toBe(true);
    expect(threads).toBeGreaterThanOrEqual(1);
    expect(threads).toBeLessThanOrEqual(availableParallelism());
    const expected = process.env.AKACHAT_THREADS ? Number(process.env.AKACHAT_THREADS) : Math.max(1, Math.min(systemInfo().mathCores, availableParallelism()) - 1);
    expect(threads).toBe(expected);
  });

  it('queues concurrent generations on one context', async () => {
    const [a, b] = await Promise.all([
      ctx.generate(PROMPT, { temperature: 0, maxTokens: 10 }).text(),
      ctx.generate(PROMPT, { temperature: 0, maxTokens: 10 }).text(),
    ]);
    expect(a).toBe(b);
  });
});
