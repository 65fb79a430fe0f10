/** Batch on local models: each model is loaded once, whatever the number of prompts, inputs and temperatures. */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Akachat } from '../../src/akachat.js';
import { Batch, parseOriginalLog } from '../../src/batch/index.js';
import type { ModelEvent } from '../../src/llm/model-manager.js';
import { addonBuilt, sharedModel } from '../support/models.js';

const stories = addonBuilt ? sharedModel('stories') : undefined;
const tiny = addonBuilt ? sharedModel('tinyRandom32k') : undefined;

describe.skipIf(!stories || !tiny)('Batch on local models', () => {
  it('loads each model once (one resident model), and the greedy cells match single runs', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'akachat-batch-native-'));
    const events: ModelEvent[] = [];
    const aka = new Akachat({ dataDir, rag: null, models: { maxResident: 1, keepAliveMs: 0, threads: 1 }, onModelEvent: (e) => events.push(e) });
    try {
      for (const name of ['a', 'b']) await aka.prompts.save(name, `Once upon a time, ${name}`, { template: '{bos_token}{instruction}{input}', max_new_tokens: 8, seed: 1 });
      const report = await new Batch(aka, { models: [stories!, tiny!], temperatures: [0, 0.5], inputs: [' there', ' here'] }).runAll();
      expect(report.results).toHaveLength(16);
      expect(report.summary.failedCells).toBe(0);
      // Loads, in order, with consecutive progress events of one load collapsed.
      const loads = events.filter((e) => e.type === 'load').map((e) => e.model).filter((m, i, all) => m !== all[i - 1]);
      expect(loads).toEqual([stories, tiny]);
      expect(events.filter((e) => e.type === 'unload')).toHaveLength(1);
      const greedy = report.results.find((r) => r.model === stories && r.temperature === 0 && r.prompt === 'a' && r.input === ' there')!;
      const single = await aka.run('a', ' there', { overrides: { model: stories, temperature: 0 }, noLog: true });
      expect(greedy.output).toBe(single.text);
      expect(greedy.tokensPerSecond).toBeGreaterThan(0);
      expect(parseOriginalLog(await readFile(report.files.log, 'utf8'))).toHaveLength(16);
    } finally {
      await aka.dispose();
      await rm(dataDir, { recursive: true, force: true });
    }
  }, 120_000);

  it('runs a model\'s cells through its slots at once, with the same greedy outputs and the batch\'s order in the reports', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'akachat-batch-slots-'));
    const outputs: string[][] = [];
    try {
      for (const parallel of [1, 3]) {
        const aka = new Akachat({ dataDir, rag: null, models: { keepAliveMs: 0, threads: 1, parallel } });
        await aka.prompts.save('p', 'Once upon a time,', { template: '{bos_token}{instruction}{input}', max_new_tokens: 12 });
        const inputs = [' a cat', ' a dog', ' a king', ' a ship', ' a girl', ' a tree'];
        const report = await new Batch(aka, { models: [stories!], temperatures: [0], inputs, name: `slots-${parallel}` }).runAll();
        expect(report.results.map((r) => r.input)).toEqual(inputs);
        expect(report.results.every((r) => r.error === undefined && r.completionTokens > 0)).toBe(true);
        outputs.push(report.results.map((r) => r.output));
        await aka.dispose();
      }
      expect(outputs[1]).toEqual(outputs[0]);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  }, 120_000);
});
