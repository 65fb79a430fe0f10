import { execFile, spawnSync } from 'node:child_process';
import { copyFile, mkdtemp, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ContextFullError, DisposedError } from '../../src/errors.js';
import { Model, type Context, type GenerateOptions, type Generation } from '../../src/engine/index.js';
import { addonBuilt, sharedModel } from '../support/models.js';

const stories = addonBuilt ? sharedModel('stories') : undefined;
const tiny = addonBuilt ? sharedModel('tinyRandom32k') : undefined;
const execFileAsync = promisify(execFile);
const PROMPTS = ['Once upon a time', 'The little dog', 'One day, Lily went to the park', 'Tom and his mom'];

/** Runs each request alone, one after another, on a one-slot context. */
async function oneByOne(model: Model, requests: [string, GenerateOptions][]): Promise<string[]> {
  const ctx = await model.createContext({ contextSize: 256, threads: 2 });
  const texts: string[] = [];
  for (const [prompt, options] of requests) {
    ctx.clearCache();
    texts.push(await ctx.generate(prompt, options).text());
  }
  ctx.dispose();
  return texts;
}

/** Reads every generation's stream at once and returns the most slots seen busy together. */
async function drain(ctx: Context, generations: Generation[]): Promise<number> {
  let busiest = 0;
  await Promise.all(generations.map(async (g) => {
    for await (const _ of g) busiest = Math.max(busiest, ctx.slots.filter((s) => s.state !== 'idle').length);
  }));
  return busiest;
}

describe.each([
  ['stories260K', stories],
  ['llama-2-tiny-random', tiny],
])('slots with %s', (_name, path) => {
  let model: Model;
  let ctx: Context;
  beforeAll(async () => {
    if (!path) return;
    model = await Model.load(path);
    ctx = await model.createContext({ contextSize: 256, threads: 2, parallel: 4 });
  });
  afterAll(() => model?.dispose());

  it.skipIf(!path)('4 concurrent greedy generations equal the same 4 run one by one', async () => {
    const requests = PROMPTS.map((p): [string, GenerateOptions] => [p, { temperature: 0, maxTokens: 48, ignoreEos: true }]);
    const expected = await oneByOne(model, requests);
    ctx.clearCache();
    const generations = requests.map(([p, o]) => ctx.generate(p, o));
    const busiest = await drain(ctx, generations);
    const results = await Promise.all(generations.map((g) => g.result));
    expect(results.map((r) => r.text)).toEqual(expected);
    expect(results.map((r) => r.generatedTokens)).toEqual([48, 48, 48, 48]);
    expect(busiest).toBeGreaterThanOrEqual(2); // they did run together
    expect(ctx.slots.map((s) => s.state)).toEqual(['idle', 'idle', 'idle', 'idle']);
  });

  it.skipIf(!path)('aborting one slot leaves the others running and correct', async () => {
    const requests = PROMPTS.map((p): [string, GenerateOptions] => [p, { temperature: 0, maxTokens: 64, ignoreEos: true }]);
    const expected = await oneByOne(model, requests);
    const generations = requests.map(([p, o]) => ctx.generate(p, o));
    const aborted = generations[1]!;
    let chunks = 0;
    const reading = Promise.all(generations.map(async (g) => {
      for await (const _ of g) {
        if (g === aborted && ++chunks === 1) aborted.abort();
      }
    }));
    await reading;
    const results = await Promise.all(generations.map((g) => g.result));
    expect(results[1]!.stopReason).toBe('abort');
    expect(results[1]!.generatedTokens).toBeLessThan(64);
    expect(expected[1]!.startsWith(results[1]!.text)).toBe(true);
    for (const i of [0, 2, 3]) {
      expect(results[i]!.stopReason).toBe('maxTokens');
      expect(results[i]!.text).toBe(expected[i]);
    }
  });

  it.skipIf(!path)('a request waits for a free slot and can be aborted while it waits', async () => {
    const running = PROMPTS.map((p) => ctx.generate(p, { temperature: 0, maxTokens: 200, ignoreEos: true }));
    const waiting = ctx.generate(PROMPTS[0]!, { temperature: 0, maxTokens: 5 });
    expect(ctx.info.waiting).toBeGreaterThanOrEqual(1); // the loop may not have placed the first four yet
    waiting.abort();
    const result = await waiting.result;
    expect(result.stopReason).toBe('abort');
    expect(result.generatedTokens).toBe(0);
    const others = await Promise.all(running.map((g) => g.result));
    expect(others.map((r) => r.generatedTokens)).toEqual([200, 200, 200, 200]);

  });

  it.skipIf(!path)('stop strings and maxTokens apply per slot', async () => {
    const plain = await oneByOne(model, PROMPTS.map((p) => [p, { temperature: 0, maxTokens: 40, ignoreEos: true }]));
    // Slots 0 and 2 stop at a string from the middle of their continuation; 1 and 3 at their own token budgets.
    const requests = PROMPTS.map((p, i): [string, GenerateOptions] => {
      const text = plain[i]!;
      const stop = i % 2 === 0 ? text.slice(Math.floor(text.length / 2), Math.floor(text.length / 2) + 3) : 'NEVER-THERE';
      return [p, { temperature: 0, maxTokens: i % 2 === 0 ? 40 : 5 + 7 * i, ignoreEos: true, stop: stop.trim() ? [stop] : [] }];
    });
    const expected = await oneByOne(model, requests);
    const results = await Promise.all(requests.map(([p, o]) => ctx.generate(p, o).result));
    expect(results.map((r) => r.text)).toEqual(expected);
    expect(results[1]!.stopReason).toBe('maxTokens');
    expect(results[1]!.generatedTokens).toBe(12);
    expect(results[3]!.generatedTokens).toBe(26);
    for (const i of [0, 2]) {
      if (requests[i]![1].stop!.length) {
        expect(results[i]!.stopReason).toBe('stop');
        expect(results[i]!.text.length).toBeLessThan(plain[i]!.length);
      }
    }
  });

  it.skipIf(!path)('a persona returns to the slot that holds its prefix', async () => {
    ctx.clearCache();
    const personaA = 'Once upon a time, there was a little girl named Lily. She loved to play outside in the sun with her friends.';
    const personaB = 'Tom had a big red ball. Every day he went to the park with his dog and threw the ball far away.';
    const ask = (persona: string, input: string) => ctx.generate(`${persona} ${input}`, { temperature: 0, maxTokens: 4 }).result;
    const lengthA = model.tokenize(personaA).length;
    const lengthB = model.tokenize(personaB).length;
    await ask(personaA, 'One day');
    await ask(personaB, 'One day');
    // A new request for B would go to the least recently used slot (A's) without prefix placement.
    const b = await ask(personaB, 'Then');
    const a = await ask(personaA, 'Then');
    expect(b.reusedTokens).toBeGreaterThanOrEqual(lengthB);
    expect(a.reusedTokens).toBeGreaterThanOrEqual(lengthA);
    const holding = ctx.slots.filter((s) => s.cachedTokens > 0);
    expect(holding.length).toBe(2);
  });

  it.skipIf(!path)('more personas than slots: a persona evicted from its slot is restored from host memory', async () => {
    const personas = [
      'Once upon a time, there was a little girl named Lily. She loved to play outside in the sun with her friends.',
      'Tom had a big red ball. Every day he went to the park with his dog and threw the ball far away.',
      'The old cat sat by the window and watched the birds in the tree. It was a cold and windy day.',
    ];
    const one = await model.createContext({ contextSize: 256, threads: 2 });
    try {
      const ask = (persona: string, input: string) => one.generate(`${persona} ${input}`, { temperature: 0, maxTokens: 6, ignoreEos: true }).result;
      const cold = await ask(personas[0]!, 'Then');
      for (const persona of personas) await ask(persona, 'One day');  // each takes the one slot over
      const again = await ask(personas[0]!, 'Then');
      expect(again.reusedTokens).toBeGreaterThanOrEqual(model.tokenize(personas[0]!).length);
      expect(again.text).toBe(cold.text);
      one.clearCache();  // forgets kept prompts too
      expect((await ask(personas[0]!, 'Then')).reusedTokens).toBe(0);
    } finally {
      one.dispose();
    }
  });

  it.skipIf(!path)('one persona asked several times at once: its prefix is copied to the other slots, not decoded again', async () => {
    const persona = 'Once upon a time, there was a little girl named Lily. She loved to play outside in the sun with her friends. '
      + 'One day, she found a big red ball in the garden and ran to show it to her mom, who was baking a cake.';
    const inputs = ['Then', 'One day', 'After that'];
    const requests = inputs.map((input): [string, GenerateOptions] => [`${persona} ${input}`, { temperature: 0, maxTokens: 12, ignoreEos: true }]);
    const expected = await oneByOne(model, requests);
    ctx.clearCache();
    const first = await ctx.generate(`${persona} Hello`, { temperature: 0, maxTokens: 2 }).result;
    expect(first.reusedTokens).toBe(0);
    const results = await Promise.all(requests.map(([p, o]) => ctx.generate(p, o).result));
    expect(results.map((r) => r.text)).toEqual(expected);
    const length = model.tokenize(persona).length;
    for (const r of results) expect(r.reusedTokens).toBeGreaterThanOrEqual(length);
    // At least one other slot got the prefix by copy (every request reused it, above). Whether the
    // third request finds the first slot busy or already free again depends on timing.
    expect(ctx.slots.filter((s) => s.cachedTokens >= length).length).toBeGreaterThanOrEqual(2);
  });

  it.skipIf(!path)('a prompt longer than one slot fails with the overflow error', async () => {
    const long = Int32Array.from({ length: 300 }, (_, i) => 100 + (i % 50));
    const error = await ctx.generate(long, { maxTokens: 2 }).result.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ContextFullError);
    expect((error as Error).message).toMatch(/300 tokens but each of the context's 4 slots holds 256/);
    // The other slots still work.
    expect((await ctx.generate(PROMPTS[0]!, { maxTokens: 3, temperature: 0 }).result).generatedTokens).toBe(3);
  });
});

describe.skipIf(!stories)('slot view and defaults', () => {
  it('one slot by default; the context size is per slot', async () => {
    const model = await Model.load(stories!);
    try {
      const one = await model.createContext({ contextSize: 256, threads: 1 });
      expect(one.parallel).toBe(1);
      expect(one.info.contextSize).toBe(256);
      expect(one.slots).toEqual([{ id: 0, state: 'idle', cachedTokens: 0, promptTokens: 0, generatedTokens: 0 }]);
      const result = await one.generate(PROMPTS[0]!, { temperature: 0, maxTokens: 5 }).result;
      expect(one.slots[0]!.cachedTokens).toBe(result.promptTokens + result.generatedTokens - 1);
      const three = await model.createContext({ contextSize: 256, threads: 1, parallel: 3 });
      expect(three.info.contextSize).toBe(256);
      expect(three.info.totalContextSize).toBe(768);
      expect(three.slots.map((s) => s.id)).toEqual([0, 1, 2]);
      await expect(model.createContext({ contextSize: 256, parallel: 0 })).rejects.toThrow(/Expected .* for parallel but received 0/);
      await expect(model.createContext({ contextSize: 256, batchSize: 2, parallel: 4 })).rejects.toThrow(/at most batchSize \(2\) for parallel/);
    } finally {
      model.dispose();
    }
  });
});

describe.skipIf(!stories)('generations started together', () => {
  let model: Model;
  let ctx: Context;
  beforeAll(async () => {
    model = await Model.load(stories!);
    ctx = await model.createContext({ contextSize: 256, threads: 1, parallel: 4 });
  });
  afterAll(() => model?.dispose());
  const options: GenerateOptions = { temperature: 0, maxTokens: 12, ignoreEos: true };

  it('share every decode step: one step per token for four at once, also when each starts from another\'s end', async () => {
    ctx.clearCache();
    const before = ctx.info;
    // Four clients, two requests each: the second ones start from the first ones' ends.
    const texts = await Promise.all(PROMPTS.map(async (p) => {
      const first = await ctx.generate(p, options).result;
      const second = await ctx.generate(`${p} again`, options).result;
      return [first.generatedTokens, second.generatedTokens];
    }));
    expect(texts).toEqual(PROMPTS.map(() => [12, 12]));
    const after = ctx.info;
    // 12 tokens = the prompt step (which samples the first) + 11 steps; twice.
    expect(after.decodes - before.decodes).toBe(24);
    expect(after.slotDecodes - before.slotDecodes).toBe(96);
  });

  it('a deferred request aborted or disposed before it took a slot ends with abort', async () => {
    const controller = new AbortController();
    const aborted = ctx.generate(PROMPTS[0]!, { ...options, signal: controller.signal });
    const kept = ctx.generate(PROMPTS[1]!, options);
    controller.abort();
    await expect(aborted.result).rejects.toMatchObject({ name: 'AbortError', partialText: '' });
    expect((await kept.result).generatedTokens).toBe(12);

    const other = await model.createContext({ contextSize: 256, threads: 1, parallel: 2 });
    const pending = [other.generate(PROMPTS[2]!, options), other.generate(PROMPTS[3]!, options)];
    other.dispose(); // before the event loop turned: neither reached the decode loop
    for (const g of pending) expect((await g.result).stopReason).toBe('abort');
  });
});

describe.skipIf(!stories)('dispose with slots busy', () => {
  it('ends running and waiting generations with abort; later calls fail clearly', async () => {
    const model = await Model.load(stories!);
    try {
      const ctx = await model.createContext({ contextSize: 256, threads: 1, parallel: 2 });
      const generations = PROMPTS.slice(0, 3).map((p) => ctx.generate(p, { temperature: 0, maxTokens: 200, ignoreEos: true }));
      for await (const _ of generations[0]!) break; // the first text: the loop is running
      ctx.dispose();
      const results = await Promise.all(generations.map((g) => g.result.catch((e: unknown) => e)));
      for (const r of results) expect((r as { stopReason?: string }).stopReason).toBe('abort');
      expect(() => ctx.generate(PROMPTS[0]!)).toThrow(DisposedError);
    } finally {
      model.dispose();
    }
  });
});

describe.skipIf(!stories)('slot state on disk', () => {
  const persona = 'Once upon a time, there was a little girl named Lily. She loved to play outside in the sun with her friends.';
  let dir: string;
  beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'akachat-slots-')); });
  afterAll(async () => { await rm(dir, { recursive: true, force: true }); });

  it('a saved slot restored in a freshly loaded model gives the same greedy text and reuses its tokens', async () => {
    const file = join(dir, 'persona.kv');
    const request = `${persona} One day`;
    const first = await Model.load(stories!);
    const ctx = await first.createContext({ contextSize: 256, threads: 1, parallel: 2 });
    const cold = await ctx.generate(request, { temperature: 0, maxTokens: 24 }).result;
    const slot = ctx.slots.findIndex((s) => s.cachedTokens > 0);
    expect((await ctx.saveSlot(slot, file)).length).toBe(ctx.slots[slot]!.cachedTokens);
    first.dispose();

    const second = await Model.load(stories!);
    try {
      const restored = await second.createContext({ contextSize: 256, threads: 1, parallel: 2 });
      const tokens = await restored.loadSlot(1, file);
      expect(tokens.length).toBe(cold.promptTokens + cold.generatedTokens - 1);
      expect([...tokens.subarray(0, cold.promptTokens)]).toEqual([...second.tokenize(request)]);
      expect(restored.slots[1]!.cachedTokens).toBe(cold.promptTokens + cold.generatedTokens - 1);
      const warm = await restored.generate(request, { temperature: 0, maxTokens: 24 }).result;
      expect(warm.text).toBe(cold.text);
      expect(warm.reusedTokens).toBe(cold.promptTokens - 1);
    } finally {
      second.dispose();
    }
  });

  it('a corrupt, truncated or missing state file is refused and leaves the slot empty', async () => {
    const model = await Model.load(stories!);
    try {
      const ctx = await model.createContext({ contextSize: 256, threads: 1, parallel: 2 });
      await ctx.generate(persona, { temperature: 0, maxTokens: 4 }).result;
      const slot = ctx.slots.findIndex((s) => s.cachedTokens > 0);
      const good = join(dir, 'good.kv');
      await ctx.saveSlot(slot, good);
      const bytes = await readFile(good);
      const truncated = join(dir, 'truncated.kv');
      await writeFile(truncated, bytes.subarray(0, Math.floor(bytes.length / 2)));
      const garbage = join(dir, 'garbage.kv');
      await writeFile(garbage, Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 251)));
      for (const bad of [truncated, garbage, join(dir, 'missing.kv')]) {
        await expect(ctx.loadSlot(slot, bad)).rejects.toThrow(/Could not load the KV state/);
        expect(ctx.slots[slot]!.cachedTokens).toBe(0);
      }
      // The context still works, and the good file still loads.
      expect((await ctx.generate(persona, { temperature: 0, maxTokens: 3 }).result).generatedTokens).toBe(3);
      expect((await ctx.loadSlot(0, good)).length).toBeGreaterThan(0);
      await expect(ctx.loadSlot(2, good)).rejects.toThrow(/Expected .* for slot but received 2/);
    } finally {
      model.dispose();
    }
  });
});

describe.skipIf(!stories)('persona states that outlast the process', () => {
  const persona = 'Once upon a time, there was a little girl named Lily. She loved to play outside in the sun with her friends. '
    + 'One day, she found a big red ball in the garden and ran to show it to her mom.';
  let dir: string;
  let modelFile: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'akachat-persona-'));
    modelFile = join(dir, 'stories.gguf'); // a copy whose modification time the stale case changes
    await copyFile(stories!, modelFile);
  });
  afterAll(async () => { await rm(dir, { recursive: true, force: true }); });

  /** One call in a new process through a fresh ModelManager: a restart between every two calls. */
  async function call(input: string, warnings: string[] = [], cache = true) {
    const fixture = join(import.meta.dirname, 'fixtures', 'persona-call.ts');
    const { stdout } = await execFileAsync(process.execPath, ['--import', 'tsx', fixture, modelFile, `${persona} ${input}`, cache ? join(dir, 'kv') : ''], { timeout: 60_000 });
    const out = JSON.parse(stdout.trim().split('\n').at(-1)!) as { text: string; reusedTokens: number; warnings: string[] };
    warnings.push(...out.warnings);
    return { text: out.text, usage: { reusedTokens: out.reusedTokens } };
  }

  it('the first call after a restart restores the persona: same greedy text, its tokens reused', async () => {
    const cold = await call('Then', [], false);
    expect(cold.usage.reusedTokens).toBe(0);
    await call('One day'); // saves the persona
    const files = (await readdir(join(dir, 'kv'), { recursive: true })).filter((f) => String(f).endsWith('.kv'));
    expect(files.length).toBe(1);
    const warm = await call('Then');
    expect(warm.text).toBe(cold.text);
    const model = await Model.load(modelFile);
    const length = model.tokenize(persona).length;
    model.dispose();
    expect(warm.usage.reusedTokens).toBeGreaterThanOrEqual(length);
  });

  it('a corrupt saved state is ignored with a warning and removed; a changed model file never sees old states', async () => {
    const [file] = (await readdir(join(dir, 'kv'), { recursive: true })).map(String).filter((f) => f.endsWith('.kv'));
    await writeFile(join(dir, 'kv', file!), Buffer.alloc(2048, 7));
    const warnings: string[] = [];
    const cold = await call('Then', [], false);
    const afterCorrupt = await call('Then', warnings);
    expect(warnings.join('\n')).toMatch(/Ignoring the saved prompt state .*Could not load the KV state/);
    expect(afterCorrupt.usage.reusedTokens).toBe(0);
    expect(afterCorrupt.text).toBe(cold.text);
    // That call saved the persona again; a model file that changed does not load it.
    await utimes(modelFile, new Date(), new Date(Date.now() + 60_000));
    const stale = await call('Then', warnings);
    expect(stale.usage.reusedTokens).toBe(0);
    expect(stale.text).toBe(cold.text);
  });
});

describe.skipIf(!stories)('slots over many requests', () => {
  it('200 cycles of 4 concurrent requests do not grow memory', () => {
    const child = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', join(import.meta.dirname, 'fixtures', 'slot-cycles.ts'), stories!, '200'], { encoding: 'utf8', timeout: 150_000 });
    expect(child.status, child.stderr).toBe(0);
    const { baseline, final, cycles, slots } = JSON.parse(child.stdout.trim().split('\n').at(-1)!);
    expect(cycles).toBe(200);
    expect(slots).toBe(4);
    // A leaked sampler, batch or generation per request would add far more over 720 requests.
    expect(final - baseline).toBeLessThan(24 * 1024 * 1024);
  }, 180_000);
});
