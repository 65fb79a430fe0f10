/**
 * Writes small GGUF files for tests and benchmarks: a random-weight Llama with a synthetic
 * SentencePiece vocabulary (byte fallback, so any text tokenizes). Nothing is downloaded.
 * Format: GGUF v3 (little endian): header, key/values, tensor infos, aligned tensor data.
 */
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';

const enum T { U32 = 4, I32 = 5, F32 = 6, BOOL = 7, STRING = 8, ARRAY = 9, U64 = 10 }
const ALIGNMENT = 32;

type Kv = [key: string, type: T, value: unknown, elemType?: T];

/** A metadata value for `RandomLlamaOptions.metadata`; `null` removes the key. */
export type GgufKvValue =
  | { type: 'u32' | 'i32' | 'u64' | 'f32'; value: number }
  | { type: 'bool'; value: boolean }
  | { type: 'string'; value: string }
  | { type: 'array'; elementType: 'u32' | 'i32' | 'f32' | 'string'; value: (number | string)[] }
  | null;

/** A header field's place in the file (for fuzzing): what it is, where, and its width in bytes. */
export interface GgufField {
  kind: 'count' | 'strlen' | 'kvtype' | 'arraylen' | 'ndims' | 'dim' | 'ttype' | 'offset' | 'value';
  at: number;
  size: 4 | 8;
}

export interface RandomLlamaOptions {
  embedding?: number;
  layers?: number;
  heads?: number;
  headsKv?: number;
  feedForward?: number;
  vocab?: number;
  contextLength?: number;
  /** 'f32' or 'f16' weights. Default 'f32'. */
  type?: 'f32' | 'f16';
  seed?: number;
  /** `general.alignment`, also used to lay out the data. Default 32. */
  alignment?: number;
  /** Keys to set (added, or replacing the writer's own) or, with null, to leave out. */
  metadata?: Record<string, GgufKvValue>;
}

class Bytes {
  parts: Buffer[] = [];
  fields: GgufField[] = [];
  #length = 0;
  #push(b: Buffer) { this.parts.push(b); this.#length += b.length; }
  mark(kind: GgufField['kind'], size: 4 | 8) { this.fields.push({ kind, at: this.#length, size }); return this; }
  raw(b: Buffer) { this.#push(b); }
  u32(v: number) { const b = Buffer.alloc(4); b.writeUInt32LE(v >>> 0); this.#push(b); }
  i32(v: number) { const b = Buffer.alloc(4); b.writeInt32LE(v); this.#push(b); }
  u64(v: number | bigint) { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); this.#push(b); }
  f32(v: number) { const b = Buffer.alloc(4); b.writeFloatLE(v); this.#push(b); }
  str(s: string) { const b = Buffer.from(s, 'utf8'); this.mark('strlen', 8).u64(b.length); this.#push(b); }
  value(type: T, v: unknown, elemType?: T) {
    switch (type) {
      case T.U32: this.mark('value', 4).u32(v as number); break;
      case T.I32: this.mark('value', 4).i32(v as number); break;
      case T.F32: this.mark('value', 4).f32(v as number); break;
      case T.BOOL: this.#push(Buffer.from([v ? 1 : 0])); break;
      case T.STRING: this.str(v as string); break;
      case T.U64: this.mark('value', 8).u64(v as number); break;
      case T.ARRAY: {
        const arr = v as unknown[];
        this.mark('kvtype', 4).u32(elemType!); this.mark('arraylen', 8).u64(arr.length);
        // Per-element marks would drown the header fields in a fuzzer's choice.
        const inner = new Bytes();
        for (const item of arr) inner.value(elemType!, item);
        for (const part of inner.parts) this.#push(part);
        break;
      }
    }
  }
  get length() { return this.#length; }
}

/** A SentencePiece-style vocabulary: specials, 256 byte tokens, then synthetic pieces. */
function syntheticVocab(size: number) {
  const tokens = ['<unk>', '<s>', '</s>'];
  const types = [2, 3, 3];
  for (let i = 0; i < 256; i++) { tokens.push(`<0x${i.toString(16).toUpperCase().padStart(2, '0')}>`); types.push(6); }
  const letters = 'etaoinshrdlcumwfgypbvkjxqz';
  const seen = new Set(tokens);
  const add = (piece: string) => { if (tokens.length < size && !seen.has(piece)) { seen.add(piece); tokens.push(piece); types.push(1); } };
  add('▁');
  for (const a of letters) { add(`▁${a}`); add(a); }
  outer: for (const a of letters) for (const b of letters) { add(`▁${a}${b}`); add(`${a}${b}`); if (tokens.length >= size) break outer; }
  outer2: for (const a of letters) for (const b of letters) for (const c of letters) { add(`▁${a}${b}${c}`); add(`${a}${b}${c}`); if (tokens.length >= size) break outer2; }
  for (let i = 0; tokens.length < size; i++) add(`▁w${i}`);
  const scores = tokens.map((_, i) => (i < 259 ? 0 : -Math.log(i)));
  return { tokens, scores, types };
}

function f32ToF16(v: number): number {
  const f = new Float32Array([v]);
  const x = new Uint32Array(f.buffer)[0];
  const sign = (x >>> 16) & 0x8000;
  let exp = ((x >>> 23) & 0xff) - 127 + 15;
  const mant = x & 0x7fffff;
  if (exp <= 0) return sign;
  if (exp >= 31) return sign | 0x7c00;
  return sign | (exp << 10) | (mant >>> 13);
}

/** The synthetic vocabulary randomLlama writes for `size` tokens (for tests that vary it). */
export function randomLlamaVocab(size: number): { tokens: string[]; scores: number[]; types: number[] } {
  return syntheticVocab(size);
}

/** Writes a random-weight Llama GGUF and returns its parameter count. */
export async function writeRandomLlama(path: string, options: RandomLlamaOptions = {}): Promise<{ parameters: number; bytes: number }> {
  const file = randomLlama(options);
  await mkdir(dirname(path), { recursive: true });
  const out = createWriteStream(path);
  const write = (b: Buffer) => new Promise<void>((resolve, reject) => { out.write(b, (err) => (err ? reject(err) : resolve())); });
  let bytes = 0;
  for (const chunk of file.chunks()) {
    await write(chunk);
    bytes += chunk.length;
  }
  await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
  return { parameters: file.parameters, bytes };
}

/** A whole random-weight Llama GGUF in memory (small models), with its header fields' places. */
export function randomLlamaBytes(options: RandomLlamaOptions = {}): { bytes: Buffer; fields: GgufField[]; headerLength: number } {
  const file = randomLlama(options);
  return { bytes: Buffer.concat([...file.chunks()]), fields: file.fields, headerLength: file.headerLength };
}

const KV_TYPES = { u32: T.U32, i32: T.I32, u64: T.U64, f32: T.F32, bool: T.BOOL, string: T.STRING } as const;

function randomLlama(options: RandomLlamaOptions) {
  const nEmbd = options.embedding ?? 64;
  const nLayer = options.layers ?? 2;
  const nHead = options.heads ?? 4;
  const nHeadKv = options.headsKv ?? nHead;
  const nFf = options.feedForward ?? nEmbd * 3;
  const nVocab = options.vocab ?? 1024;
  const type = options.type ?? 'f32';
  const headDim = nEmbd / nHead;
  const nEmbdKv = headDim * nHeadKv;
  const vocab = syntheticVocab(nVocab);

  const alignment = options.alignment ?? ALIGNMENT;
  const defaults: Kv[] = [
    ['general.architecture', T.STRING, 'llama'],
    ['general.name', T.STRING, 'akachat random llama'],
    ['general.file_type', T.U32, type === 'f16' ? 1 : 0],
    ['general.alignment', T.U32, alignment],
    ['llama.context_length', T.U32, options.contextLength ?? 2048],
    ['llama.embedding_length', T.U32, nEmbd],
    ['llama.block_count', T.U32, nLayer],
    ['llama.feed_forward_length', T.U32, nFf],
    ['llama.attention.head_count', T.U32, nHead],
    ['llama.attention.head_count_kv', T.U32, nHeadKv],
    ['llama.rope.dimension_count', T.U32, headDim],
    ['llama.attention.layer_norm_rms_epsilon', T.F32, 1e-5],
    ['tokenizer.ggml.model', T.STRING, 'llama'],
    ['tokenizer.ggml.tokens', T.ARRAY, vocab.tokens, T.STRING],
    ['tokenizer.ggml.scores', T.ARRAY, vocab.scores, T.F32],
    ['tokenizer.ggml.token_type', T.ARRAY, vocab.types, T.I32],
    ['tokenizer.ggml.unknown_token_id', T.U32, 0],
    ['tokenizer.ggml.bos_token_id', T.U32, 1],
    ['tokenizer.ggml.eos_token_id', T.U32, 2],
    ['tokenizer.ggml.add_bos_token', T.BOOL, true],
    ['tokenizer.ggml.add_space_prefix', T.BOOL, true],
  ];
  const overrides = options.metadata ?? {};
  const kvs: Kv[] = defaults.filter(([key]) => !(key in overrides));
  for (const [key, v] of Object.entries(overrides)) {
    if (v?.type === 'array') kvs.push([key, T.ARRAY, v.value, KV_TYPES[v.elementType]]);
    else if (v) kvs.push([key, KV_TYPES[v.type], v.value]);
  }

  // [name, dims (ne0 first), isNorm]
  const tensors: [string, number[], boolean][] = [['token_embd.weight', [nEmbd, nVocab], false], ['output_norm.weight', [nEmbd], true], ['output.weight', [nEmbd, nVocab], false]];
  for (let i = 0; i < nLayer; i++) {
    tensors.push(
      [`blk.${i}.attn_norm.weight`, [nEmbd], true],
      [`blk.${i}.attn_q.weight`, [nEmbd, nEmbd], false],
      [`blk.${i}.attn_k.weight`, [nEmbd, nEmbdKv], false],
      [`blk.${i}.attn_v.weight`, [nEmbd, nEmbdKv], false],
      [`blk.${i}.attn_output.weight`, [nEmbd, nEmbd], false],
      [`blk.${i}.ffn_norm.weight`, [nEmbd], true],
      [`blk.${i}.ffn_gate.weight`, [nEmbd, nFf], false],
      [`blk.${i}.ffn_down.weight`, [nFf, nEmbd], false],
      [`blk.${i}.ffn_up.weight`, [nEmbd, nFf], false],
    );
  }

  const header = new Bytes();
  header.raw(Buffer.from('GGUF', 'ascii'));
  header.u32(3);
  header.mark('count', 8).u64(tensors.length);
  header.mark('count', 8).u64(kvs.length);
  for (const [key, t, v, elem] of kvs) { header.str(key); header.mark('kvtype', 4).u32(t); header.value(t, v, elem); }
  let offset = 0;
  let parameters = 0;
  const sizes: number[] = [];
  for (const [name, dims, isNorm] of tensors) {
    const count = dims.reduce((a, b) => a * b, 1);
    parameters += count;
    const ttype = isNorm || type === 'f32' ? 0 : 1;
    const size = count * (ttype === 0 ? 4 : 2);
    header.str(name); header.mark('ndims', 4).u32(dims.length);
    for (const d of dims) header.mark('dim', 8).u64(d);
    header.mark('ttype', 4).u32(ttype); header.mark('offset', 8).u64(offset);
    sizes.push(size);
    offset += Math.ceil(size / alignment) * alignment;
  }
  const pad = (n: number) => Buffer.alloc((alignment - (n % alignment)) % alignment);

  // One block of random values, reused across tensors (enough randomness for benchmarks).
  let state = (options.seed ?? 1234) >>> 0;
  const rand = () => { state = (Math.imul(state, 1664525) + 1013904223) >>> 0; return state / 2 ** 32 - 0.5; };
  const blockLen = 1 << 16;
  const f32Block = Buffer.alloc(blockLen * 4);
  const f16Block = Buffer.alloc(blockLen * 2);
  for (let i = 0; i < blockLen; i++) {
    const v = rand() * 0.08;
    f32Block.writeFloatLE(v, i * 4);
    f16Block.writeUInt16LE(f32ToF16(v), i * 2);
  }
  const ones = Buffer.alloc(nEmbd * 4);
  for (let i = 0; i < nEmbd; i++) ones.writeFloatLE(1, i * 4);
  const head = Buffer.concat(header.parts);

  function* chunks(): Generator<Buffer> {
    yield head;
    yield pad(head.length);
    for (let t = 0; t < tensors.length; t++) {
      const [, , isNorm] = tensors[t];
      const size = sizes[t];
      if (isNorm) yield ones.subarray(0, size);
      else {
        const block = type === 'f32' ? f32Block : f16Block;
        // Start each tensor at a different place in the block so tensors differ.
        let written = 0;
        let start = ((t * 7919) % blockLen) * (type === 'f32' ? 4 : 2);
        while (written < size) {
          const chunk = block.subarray(start, Math.min(block.length, start + size - written));
          yield chunk;
          written += chunk.length;
          start = 0;
        }
      }
      const p = pad(size);
      if (p.length) yield p;
    }
  }
  return { chunks, parameters, fields: header.fields, headerLength: head.length };
}
