/**
 * The default slot count of a model's context (`parallel: 'auto'`), chosen from memory as
 * llama-server (`--parallel` auto: 4 slots) and ollama (OLLAMA_NUM_PARALLEL: 4 or 1 by free
 * memory) do: 4 slots when the KV cache of 4 slots fits in half of the memory free once the
 * model is loaded, else 2 when 2 fit, else 1. The other half stays for compute buffers, the
 * prompt cache and everything else on the machine. A slot's KV cache is the slot's context size
 * times the bytes one token takes in every layer (keys and values, F16 as akachat's contexts
 * store them); its size is read from the model's GGUF metadata.
 */

/** The most slots 'auto' gives a model. */
export const AUTO_PARALLEL_MAX = 4;

/** Bytes of one KV cell of an F16 cache. */
const F16_BYTES = 2;

/**
 * KV cache bytes one token takes across all layers, from GGUF metadata (`<arch>.block_count`,
 * `<arch>.attention.head_count_kv`, key/value lengths; per-layer arrays count their largest
 * entry). 0 when the metadata does not say (recurrent models keep a fixed-size state instead).
 */
export function kvBytesPerToken(metadata: Readonly<Record<string, string>>): number {
  const arch = metadata['general.architecture'];
  if (!arch) return 0;
  const number = (key: string): number | undefined => {
    const values = [...(metadata[`${arch}.${key}`] ?? '').matchAll(/\d+/g)].map((m) => Number(m[0]));
    return values.length > 0 ? Math.max(...values) : undefined;
  };
  const layers = number('block_count');
  const embedding = number('embedding_length');
  const heads = number('attention.head_count');
  if (!layers || !embedding || !heads) return 0;
  const headsKv = number('attention.head_count_kv') ?? heads;
  const keyLength = number('attention.key_length') ?? embedding / heads;
  const valueLength = number('attention.value_length') ?? embedding / heads;
  return layers * headsKv * (keyLength + valueLength) * F16_BYTES;
}

/**
 * Slots for a context of `contextSize` tokens per slot: the most of 4, 2, 1 whose KV cache takes
 * at most half of `freeBytes`.
 */
export function autoParallel(bytesPerToken: number, contextSize: number, freeBytes: number): number {
  const slotBytes = bytesPerToken * contextSize;
  for (let slots = AUTO_PARALLEL_MAX; slots > 1; slots /= 2) {
    if (slots * slotBytes <= freeBytes / 2) return slots;
  }
  return 1;
}
