import { existsSync } from 'node:fs';
import { ModelLoadError } from '../errors.js';
import { expectString } from '../validate.js';
import { loadAddon } from './addon.js';
import type { GgufValue } from './addon-types.js';
import { callSite, fromNative } from './native-errors.js';

export interface GgufMetadata {
  version: number;
  tensorCount: number;
  /** `general.architecture` */
  architecture: string | undefined;
  name: string | undefined;
  /** `<arch>.context_length` */
  trainContextSize: number | undefined;
  /** `tokenizer.chat_template` */
  chatTemplate: string | undefined;
  /** `general.file_type` (a llama_ftype number) */
  fileType: number | undefined;
  /** Every key. Arrays over 1024 items come back as `{ type: 'array', elementType, length }`. */
  metadata: Record<string, GgufValue>;
}

/** Reads a GGUF file's metadata without loading its weights. */
export async function readGgufMetadata(path: string): Promise<GgufMetadata> {
  const site = callSite();
  expectString(path, 'path', { allowEmpty: false });
  if (!existsSync(path)) throw new ModelLoadError(`GGUF file not found: ${path}`);
  let file;
  try {
    file = await loadAddon().readGguf(path);
  } catch (err) {
    throw fromNative(err, site);
  }
  const m = file.metadata;
  const arch = typeof m['general.architecture'] === 'string' ? m['general.architecture'] : undefined;
  const num = (v: GgufValue | undefined) => (typeof v === 'number' ? v : undefined);
  const str = (v: GgufValue | undefined) => (typeof v === 'string' ? v : undefined);
  return {
    version: file.version,
    tensorCount: file.tensorCount,
    architecture: arch,
    name: str(m['general.name']),
    trainContextSize: arch ? num(m[`${arch}.context_length`]) : undefined,
    chatTemplate: str(m['tokenizer.chat_template']),
    fileType: num(m['general.file_type']),
    metadata: m,
  };
}
