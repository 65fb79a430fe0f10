/**
 * Compare two local models as a vitest suite: every saved prompt of a fresh data folder x two
 * models x two temperatures, one test per cell, checks on each output, reports in log/.
 *
 *   AKACHAT_TEST_MODELS=../shared/models npx vitest run examples/compare.test.ts
 *
 * (stories260K and a random 32k-vocab Llama: small enough for any machine. Point `models` at
 * your own GGUF files to compare real ones.)
 */
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Akachat, Batch } from 'akachat';
import { describeBatch } from 'akachat/vitest';
import { it } from 'vitest';

const folder = process.env.AKACHAT_TEST_MODELS ?? '';
const models = [join(folder, 'stories260K.gguf'), join(folder, 'llama-2-tiny-random.gguf')];

if (!models.every((model) => existsSync(model))) {
  it.skip(`compares two models: set AKACHAT_TEST_MODELS to a folder with ${models.map((m) => m.split('/').at(-1)).join(' and ')}`);
} else {
  const dataDir = process.env.AKACHAT_DATA ?? mkdtempSync(join(tmpdir(), 'akachat-compare-'));
  const akachat = new Akachat({ dataDir, rag: null });

  describeBatch('stories260K vs llama-2-tiny-random', async () => {
    // Template mode: these tiny models have no chat template, so the prompt is plain text.
    await akachat.prompts.save('story', 'Once upon a time,{input}', { template: '{bos_token}{instruction}', max_new_tokens: 24, seed: 1 });
    return new Batch(akachat, {
      models,
      temperatures: [0, 0.8],
      inputs: [' there was a cat'],
      checks: [
        { type: 'maxLength', value: 400 },
        { type: 'custom', name: 'says something', fn: (output) => output.trim().length > 0 || 'empty output' },
      ],
    });
  }, { onReport: async (report) => { console.log(`reports: ${report.files.html}`); await akachat.dispose(); } });
}
