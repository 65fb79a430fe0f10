import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AbortError, DisposedError, InvalidArgumentError, ModelLoadError } from '../../src/errors.js';
import { Model, quantize, readGgufMetadata, systemInfo } from '../../src/engine/index.js';
import { writeRandomLlama } from '../support/gguf-writer.js';
import { addonBuilt, randomModel, sharedModel } from '../support/models.js';

const stories = addonBuilt ? sharedModel('stories') : undefined;
const tmp = join(tmpdir(), `akachat-model-test-${process.pid}`);
beforeAll(() => mkdir(tmp, { recursive: true }));
afterAll(() => rm(tmp, { recursive: true, force: true }));

describe.skipIf(!addonBuilt)('model loading (generated model)', () => {
  it('loads with progress, exposes metadata and info, and tokenizes', async () => {
    const path = await randomModel();
    const progress: number[] = [];
    const model = await Model.load(path, { onProgress: (p) => progress.push(p) });
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.at(-1)).toBe(1);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
    expect(model.info.architecture).toBe('llama');
    expect(model.info.vocabSize).toBe(1024);
    expect(model.info.embeddingSize).toBe(64);
    expect(model.metadata()['llama.block_count']).toBe('2');
    expect(model.tokenize('hello world')[0]).toBe(model.info.bosToken);
    const tokens = model.tokenize('hello world', { addSpecial: false });
    expect(tokens[0]).not.toBe(model.info.bosToken);
    expect(model.detokenize(tokens)).toBe('hello world');
    model.dispose();
  });

  it('keeps the event loop ticking while a model loads', async () => {
    const path = join(tmp, 'big.gguf');
    await writeRandomLlama(path, { embedding: 512, layers: 8, feedForward: 1536, vocab: 8000 }); // ~115 MB
    let ticks = 0;
    let running = true;
    const spin = () => { ticks++; if (running) setImmediate(spin); };
    setImmediate(spin);
    const model = await Model.load(path, { useMmap: false });
    running = false;
    expect(ticks).toBeGreaterThan(3);
    model.dispose();
  });

  it('an AbortSignal stops a model load', async () => {
    const path = join(tmp, 'big.gguf');
    const controller = new AbortController();
    const load = Model.load(path, { useMmap: false, signal: controller.signal, onProgress: (p) => { if (p > 0) controller.abort(); } });
    await expect(load).rejects.toBeInstanceOf(AbortError);
    await expect(Model.load(path, { signal: AbortSignal.abort() })).rejects.toBeInstanceOf(AbortError);
  });

  it('reads GGUF metadata without loading weights', async () => {
    const meta = await readGgufMetadata(await randomModel());
    expect(meta.architecture).toBe('llama');
    expect(meta.trainContextSize).toBe(2048);
    expect(meta.tensorCount).toBe(3 + 2 * 9);
    expect(meta.metadata['tokenizer.ggml.tokens']).toHaveLength(1024);
    expect((meta.metadata['tokenizer.ggml.tokens'] as string[]).slice(0, 3)).toEqual(['<unk>', '<s>', '</s>']);
  });

  it('reports system info', () => {
    const info = systemInfo();
    expect(info.devices.some((d) => d.type === 'cpu')).toBe(true);
    expect(info.llama).toMatch(/CPU/);
    expect(typeof info.cuda).toBe('boolean');
  });
});

describe.skipIf(!addonBuilt)('bad input gives clear errors and the process lives on', () => {
  it('a missing file', async () => {
    await expect(Model.load(join(tmp, 'missing.gguf'))).rejects.toThrow(ModelLoadError);
    await expect(Model.load(join(tmp, 'missing.gguf'))).rejects.toThrow(/not found/);
  });

  it('a truncated GGUF carries llama.cpp\'s reason', async () => {
    const full = await readFile(await randomModel());
    const path = join(tmp, 'truncated.gguf');
    await writeFile(path, full.subarray(0, Math.floor(full.length / 2)));
    const err = await Model.load(path).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModelLoadError);
    expect((err as Error).message).toMatch(/Failed to load model .*truncated\.gguf: .*(data is not within the file bounds|failed to read|tensor|file)/i);
  });

  it('a text file renamed .gguf', async () => {
    const path = join(tmp, 'notes.gguf');
    await writeFile(path, 'these are my notes, not a model\n'.repeat(10));
    await expect(Model.load(path)).rejects.toThrow(/invalid magic characters/);
    await expect(readGgufMetadata(path)).rejects.toThrow(/invalid magic characters/);
  });

  it('a context of 0 tokens, and other bad options', async () => {
    const model = await Model.load(await randomModel());
    await expect(model.createContext({ contextSize: 0 })).rejects.toThrow(InvalidArgumentError);
    await expect(model.createContext({ contextSize: 0 })).rejects.toThrow(/Expected an integer >= 1 for contextSize but received 0/);
    await expect(model.createContext({ warmup: 'yes' as unknown as boolean })).rejects.toThrow(/Expected a boolean for warmup but received "yes"/);
    const ctx = await model.createContext({ contextSize: 256 });
    expect(() => ctx.generate('hi', { temperature: -1 })).toThrow(/temperature/);
    expect(() => ctx.generate('hi', { stop: [3 as unknown as string] })).toThrow(/stop\[0\]/);
    model.dispose();
  });

  it('any call after dispose() throws a clear error', async () => {
    const model = await Model.load(await randomModel());
    const ctx = await model.createContext({ contextSize: 256 });
    model.dispose();
    model.dispose(); // idempotent
    expect(ctx.disposed).toBe(true);
    expect(() => model.tokenize('x')).toThrow(DisposedError);
    expect(() => model.info).toThrow(/Model has been disposed/);
    expect(() => ctx.generate('x')).toThrow(/Context has been disposed/);
    await expect(model.createContext()).rejects.toThrow(DisposedError);
  });
});

describe.skipIf(!stories)('quantize', () => {
  it('writes stories260K as Q8_0 and the result loads and generates', async () => {
    const out = join(tmp, 'stories-q8_0.gguf');
    await quantize(stories!, out, 'Q8_0');
    expect(existsSync(out)).toBe(true);
    expect(existsSync(`${out}.partial`)).toBe(false);
    const meta = await readGgufMetadata(out);
    expect(meta.fileType).toBe(7);
    const model = await Model.load(out);
    const ctx = await model.createContext({ contextSize: 256 });
    const result = await ctx.generate('Once upon a time', { temperature: 0, maxTokens: 20 }).result;
    expect(result.generatedTokens).toBe(20);
    expect(result.text).toMatch(/[a-z]+ [a-z]+/);
    model.dispose();
  });

  it('rejects an unknown type and a bad input file', async () => {
    await expect(quantize(stories!, join(tmp, 'x.gguf'), 'Q9_Z' as 'Q8_0')).rejects.toThrow(/Expected one of F32, F16/);
    const notes = join(tmp, 'notes2.gguf');
    await writeFile(notes, 'not a model');
    await expect(quantize(notes, join(tmp, 'y.gguf'), 'Q8_0')).rejects.toThrow(/Failed to quantize/);
    expect(existsSync(join(tmp, 'y.gguf.partial'))).toBe(false);
  });
});
