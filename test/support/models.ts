/**
 * Test models. Real ones come from the folder in AKACHAT_TEST_MODELS (CI points it at
 * ../shared/models, see its PROVENANCE.md); cases that need them are skipped with a printed
 * reason when it is not set. Random-weight models are generated here when a test only needs
 * a valid GGUF.
 */
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { addonAvailable } from '../../src/engine/addon.js';
import { writeRandomLlama } from './gguf-writer.js';

const folder = process.env.AKACHAT_TEST_MODELS ? resolve(process.env.AKACHAT_TEST_MODELS) : undefined;

export const testModels = {
  stories: 'stories260K.gguf',
  tinyRandom32k: 'llama-2-tiny-random.gguf',
  bert: 'synthetic-bert-bge-vocab-h32.gguf',
} as const;

/** Path of a shared test model, or undefined (with the reason printed once) when absent. */
export function sharedModel(name: keyof typeof testModels): string | undefined {
  const file = folder ? join(folder, testModels[name]) : undefined;
  if (file && existsSync(file)) return file;
  const reason = folder ? `${testModels[name]} not found in AKACHAT_TEST_MODELS=${folder}` : 'AKACHAT_TEST_MODELS is not set';
  if (!warned.has(name)) {
    warned.add(name);
    console.warn(`[akachat tests] skipping cases that need ${testModels[name]}: ${reason}`);
  }
  return undefined;
}
const warned = new Set<string>();

/** True when the native addon has been built (npm test builds it first). */
export const addonBuilt = addonAvailable();
if (!addonBuilt) console.warn('[akachat tests] skipping native tests: the addon is not built (run `npm run build:native`)');

let generated: Promise<string> | undefined;
/** A small random-weight Llama (F32, 1k synthetic vocab) generated once per test process. */
export function randomModel(): Promise<string> {
  generated ??= (async () => {
    const path = join(tmpdir(), `akachat-test-random-${process.pid}.gguf`);
    await writeRandomLlama(path, { embedding: 64, layers: 2, vocab: 1024 });
    return path;
  })();
  return generated;
}
