import { existsSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { AbortError, ModelLoadError, abortReason } from '../errors.js';
import { expectInteger, expectString, invalid } from '../validate.js';
import { loadAddon } from './addon.js';
import { callSite, fromNative } from './native-errors.js';

/** GGUF file types (llama_ftype) that quantize() writes. */
export const ggufFileTypes = {
  F32: 0, F16: 1, Q4_0: 2, Q4_1: 3, Q8_0: 7, Q5_0: 8, Q5_1: 9, Q2_K: 10, Q3_K_S: 11, Q3_K_M: 12, Q3_K_L: 13,
  Q4_K_S: 14, Q4_K_M: 15, Q5_K_S: 16, Q5_K_M: 17, Q6_K: 18, IQ4_NL: 25, IQ4_XS: 30, BF16: 32,
} as const;

export type GgufFileType = keyof typeof ggufFileTypes;

export interface QuantizeOptions {
  /** CPU threads; default: all. */
  threads?: number;
  /** Checked before starting and after finishing (llama.cpp cannot stop a running quantization). */
  signal?: AbortSignal;
}

/**
 * Writes `input` as a GGUF of another type (Q4_K_M, Q8_0, F16, BF16, ...) off the JS thread.
 * The output appears atomically: it is written to a temporary name and renamed at the end.
 */
export async function quantize(input: string, output: string, type: GgufFileType | Lowercase<GgufFileType>, options: QuantizeOptions = {}): Promise<void> {
  const site = callSite();
  expectString(input, 'input', { allowEmpty: false });
  expectString(output, 'output', { allowEmpty: false });
  const key = String(type).toUpperCase() as GgufFileType;
  if (!(key in ggufFileTypes)) throw invalid(`one of ${Object.keys(ggufFileTypes).join(', ')}`, 'type', type);
  const threads = expectInteger(options.threads ?? 0, 'threads', 0, 1024);
  if (!existsSync(input)) throw new ModelLoadError(`GGUF file not found: ${input}`);
  if (options.signal?.aborted) throw new AbortError(abortReason(options.signal));
  await mkdir(dirname(output), { recursive: true });
  const partial = `${output}.partial`;
  try {
    await loadAddon().quantize(input, partial, ggufFileTypes[key], threads);
    if (options.signal?.aborted) throw new AbortError(abortReason(options.signal));
    await rename(partial, output);
  } catch (err) {
    await rm(partial, { force: true });
    throw fromNative(err, site);
  }
}
