// GGUF files that made llama.cpp assert (SIGABRT: the whole process) are refused with a
// ModelLoadError (issue 10, part 2), and a loader fuzz finds no crash or hang.
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Model, quantize } from '../../src/engine/index.js';
import { ModelLoadError } from '../../src/errors.js';
import { type GgufKvValue, type RandomLlamaOptions, randomLlamaBytes, randomLlamaVocab } from '../support/gguf-writer.js';
import { addonBuilt } from '../support/models.js';
import { fuzzLoader } from './fixtures/gguf-fuzz.js';

const tiny: RandomLlamaOptions = { embedding: 32, layers: 2, heads: 4, feedForward: 64, vocab: 300 };
const files: string[] = [];

function write(options: RandomLlamaOptions): string {
  const path = join(tmpdir(), `akachat-gguf-safety-${process.pid}-${files.length}.gguf`);
  writeFileSync(path, randomLlamaBytes({ ...tiny, ...options }).bytes);
  files.push(path);
  return path;
}

/** Loads, makes a context (its warm-up decode runs the graph) and generates two tokens. */
async function loadAndRun(path: string): Promise<void> {
  const model = await Model.load(path);
  try {
    const ctx = await model.createContext({ contextSize: 64, threads: 1 });
    await ctx.generate(model.tokenize('hello'), { maxTokens: 2 }).result;
  } finally {
    model.dispose();
  }
}

describe.skipIf(!addonBuilt)('GGUF metadata that made llama.cpp abort is refused', () => {
  afterAll(() => { for (const f of files) rmSync(f, { force: true }); });

  it.each([
    ['block_count 0', { 'llama.block_count': { type: 'u32', value: 0 } }, /llama\.block_count is 0: expected 1 to 512/],
    ['block_count above the layer limit', { 'llama.block_count': { type: 'u32', value: 513 } }, /llama\.block_count is 513/],
    ['rms epsilon NaN', { 'llama.attention.layer_norm_rms_epsilon': { type: 'f32', value: NaN } }, /layer_norm_rms_epsilon is NaN: expected a finite number/],
    ['rms epsilon negative', { 'llama.attention.layer_norm_rms_epsilon': { type: 'f32', value: -1e-5 } }, /layer_norm_rms_epsilon is -1e-05: expected a number >= 0/],
    ['general.alignment 1', { 'general.alignment': { type: 'u32', value: 1 } }, /general\.alignment is 1: expected a multiple of 32/],
  ] as const)('%s', async (_name, metadata, message) => {
    const err = await loadAndRun(write({ metadata })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModelLoadError);
    expect((err as Error).message).toMatch(message);
  });

  // Found by the fuzz below: each was a SIGABRT, SIGSEGV or a stall of the whole process.
  const vocab = randomLlamaVocab(tiny.vocab!);
  const withTokens = (edit: (tokens: string[]) => void, extra: Record<string, GgufKvValue> = {}): Record<string, GgufKvValue> => {
    const tokens = [...vocab.tokens];
    edit(tokens);
    return { ...extra, 'tokenizer.ggml.tokens': { type: 'array', elementType: 'string', value: tokens } };
  };
  it.each([
    ['an expert count without experts in use (assert while loading)', { 'llama.expert_count': { type: 'u32', value: 1 } }, /llama\.cpp refused the file \(llama-model\.cpp:\d+: GGML_ASSERT\(n_expert_used_max > 0\)/],
    ['an unknown rope scaling type (assert while loading)', { 'llama.rope.scaling.type': { type: 'string', value: 'nonexistent' } }, /llama\.cpp refused the file .*rope_scaling_type_train/],
    ['a BERT tokenizer over a SentencePiece vocabulary (abort while loading)', { 'tokenizer.ggml.model': { type: 'string', value: 'bert' } }, /llama\.cpp refused the file \(llama-vocab\.cpp:\d+: fatal error\)/],
    ['a special id its tokenizer cannot use (assert when tokenizing, on the JS thread)', withTokens(() => {}, { 'tokenizer.ggml.model': { type: 'string', value: 't5' }, 'tokenizer.ggml.bos_token_id': { type: 'u32', value: 301 } }), /its vocabulary is broken \(llama\.cpp refused the file \(llama-vocab\.cpp:\d+: GGML_ASSERT\(special_bos_id != LLAMA_TOKEN_NULL\)/],
    ['an RWKV tokenizer whose bytes are not tokens (tokenizing loops for ever)', withTokens(() => {}, { 'tokenizer.ggml.model': { type: 'string', value: 'rwkv' } }), /RWKV tokens start with byte 0x.. but none is that byte alone/],
    ['a 100 kB token (stack overflow building the byte trie)', withTokens((t) => { t[300 - 1] = 'x'.repeat(100_000); }, { 'tokenizer.ggml.model': { type: 'string', value: 'rwkv' } }), /tokenizer\.ggml\.tokens\[299\] is 100000 bytes long: expected at most 4096/],
  ] as const)('%s', async (_name, metadata, message) => {
    const err = await loadAndRun(write({ metadata })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModelLoadError);
    expect((err as Error).message).toMatch(message);
  });

  it('text the vocabulary cannot encode is an error of that call, not the end of the process', async () => {
    // Byte 0's token renamed: tokenizing "\0" threw std::out_of_range on the JS thread (std::terminate).
    const model = await Model.load(write({ metadata: withTokens((t) => { t[3] = '<0xZZ>'; }) }));
    try {
      expect(() => model.tokenize('a\u0000b')).toThrow(/The model's vocabulary failed: unordered_map::at/);
      expect(model.detokenize(model.tokenize('hello'))).toContain('hello');
    } finally {
      model.dispose();
    }
  });

  it('quantizing such a file is refused too (it aborted the process the same way)', async () => {
    const output = join(tmpdir(), `akachat-gguf-safety-${process.pid}-quantized.gguf`);
    files.push(output);
    await expect(quantize(write({ metadata: { 'llama.block_count': { type: 'u32', value: 0 } } }), output, 'Q8_0')).rejects.toThrow(/Refusing to quantize .*llama\.block_count is 0/);
    await expect(quantize(write({ metadata: { 'llama.expert_count': { type: 'u32', value: 1 } } }), output, 'Q8_0')).rejects.toThrow(/GGML_ASSERT\(n_expert_used_max > 0\)/);
    await quantize(write({}), output, 'Q8_0');
  });

  it('general.alignment 16 (valid GGUF, data laid out on 16 bytes)', async () => {
    const err = await loadAndRun(write({ alignment: 16 })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModelLoadError);
    expect((err as Error).message).toMatch(/general\.alignment is 16: expected a multiple of 32/);
  });

  it('still loads and runs good files, alignment 64 included', async () => {
    await loadAndRun(write({}));
    await loadAndRun(write({ alignment: 64 }));
  });

  it('a loader fuzz (truncations, byte flips, extreme header fields, odd hyper-parameters) finds no crash or hang', async () => {
    const report = await fuzzLoader(200, 20261130);
    expect(report.tried).toBe(200);
    expect(report.failures).toEqual([]);
    // The fuzz reaches both ends: files that load and generate, and files refused with an error.
    expect(report.generated).toBeGreaterThan(10);
    expect(report.tried - report.generated).toBeGreaterThan(50);
  }, 180_000);
});
