import { describe, expect, it } from 'vitest';
import { AUTO_PARALLEL_MAX, autoParallel, kvBytesPerToken } from '../../src/llm/parallel.js';

const llama8b = {
  'general.architecture': 'llama',
  'llama.block_count': '32',
  'llama.embedding_length': '4096',
  'llama.attention.head_count': '32',
  'llama.attention.head_count_kv': '8',
};
const GiB = 2 ** 30;

describe('the default slot count (parallel auto)', () => {
  it('reads the KV bytes of one token from GGUF metadata', () => {
    // 32 layers x 8 KV heads x (128 + 128) x 2 bytes: 128 KiB, as llama.cpp reports for Llama 3 8B.
    expect(kvBytesPerToken(llama8b)).toBe(128 * 1024);
    // Explicit key/value lengths and per-layer head counts (the largest counts).
    expect(kvBytesPerToken({
      'general.architecture': 'gemma3',
      'gemma3.block_count': '2',
      'gemma3.embedding_length': '640',
      'gemma3.attention.head_count': '4',
      'gemma3.attention.head_count_kv': '[1, 2]',
      'gemma3.attention.key_length': '256',
      'gemma3.attention.value_length': '256',
    })).toBe(2 * 2 * 512 * 2);
    // Without attention metadata (or an architecture) the cache size is unknown: 0.
    expect(kvBytesPerToken({ 'general.architecture': 'mamba', 'mamba.block_count': '24' })).toBe(0);
    expect(kvBytesPerToken({})).toBe(0);
  });

  it('gives 4 slots when their KV cache fits in half of the free memory, else 2, else 1', () => {
    const perToken = kvBytesPerToken(llama8b);  // 4096-token slots: 512 MiB each
    expect(autoParallel(perToken, 4096, 16 * GiB)).toBe(AUTO_PARALLEL_MAX);
    expect(autoParallel(perToken, 4096, 4 * GiB)).toBe(4);  // 2 GiB of KV in half of 4 GiB
    expect(autoParallel(perToken, 4096, 4 * GiB - 1)).toBe(2);
    expect(autoParallel(perToken, 4096, 2 * GiB)).toBe(2);
    expect(autoParallel(perToken, 4096, 2 * GiB - 1)).toBe(1);
    expect(autoParallel(perToken, 32768, 8 * GiB)).toBe(1);  // one 4 GiB slot is all there is room for
    expect(autoParallel(0, 4096, 0)).toBe(4);  // a model with no KV cache of this kind
  });
});
