import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { addonBuilt, randomModel, sharedModel } from '../support/models.js';

const fixtures = join(import.meta.dirname, 'fixtures');
const runChild = (script: string, args: string[], nodeArgs: string[] = []) =>
  spawnSync(process.execPath, [...nodeArgs, '--import', 'tsx', join(fixtures, script), ...args], { encoding: 'utf8', timeout: 120_000 });

describe.skipIf(!addonBuilt)('process lifetime', () => {
  it('a process with a model and context loaded exits cleanly', async () => {
    const child = runChild('exit-with-model.ts', [sharedModel('stories') ?? (await randomModel())]);
    expect(child.stderr).not.toMatch(/Assertion|Segmentation|Abort/i);
    expect(child.stdout).toContain('ready');
    expect(child.signal).toBeNull();
    expect(child.status).toBe(0);
  });

  it('process.exit() during a generation exits cleanly', async () => {
    const child = runChild('exit-with-model.ts', [sharedModel('stories') ?? (await randomModel()), 'exit-while-generating']);
    expect(child.stdout).toContain('ready');
    expect(child.signal).toBeNull();
    expect(child.status).toBe(0);
  });

  it('exits cleanly with a debug logger receiving lines while the model is disposed', async () => {
    const child = runChild('exit-with-model.ts', [sharedModel('stories') ?? (await randomModel()), 'debug-logger']);
    expect(child.stderr).not.toMatch(/terminate called|Abort/i);
    expect(child.signal).toBeNull();
    expect(child.status).toBe(0);
  });

  it('200 load/generate/dispose cycles do not grow memory', async () => {
    const child = runChild('load-cycles.ts', [sharedModel('stories') ?? (await randomModel()), '200'], ['--expose-gc']);
    expect(child.status, child.stderr).toBe(0);
    const { baseline, final, cycles } = JSON.parse(child.stdout.trim().split('\n').at(-1)!);
    expect(cycles).toBe(200);
    // A leak of the model (~1 MB) or the context per cycle would add well over 100 MB.
    expect(final - baseline).toBeLessThan(40 * 1024 * 1024);
  }, 180_000);
});
