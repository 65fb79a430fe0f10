/** akachat/vitest: a batch as a vitest suite, in a child vitest run (no model: a fake OpenAI service). */
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOpenAi, type FakeOpenAi } from '../support/fake-openai.js';

const run = promisify(execFile);
const root = join(import.meta.dirname, '..', '..');
let fake: FakeOpenAi;
beforeAll(async () => {
  fake = await startFakeOpenAi();
});
afterAll(() => fake.close());

async function childVitest(want: string): Promise<{ code: number; output: string; dataDir: string }> {
  const dataDir = await mkdtemp(join(tmpdir(), 'akachat-batch-vitest-'));
  const vitest = join(root, 'node_modules', 'vitest', 'vitest.mjs');
  try {
    const { stdout, stderr } = await run(process.execPath, [vitest, 'run', '--config', 'test/unit/fixtures/batch-vitest.config.ts'], {
      cwd: root, env: { ...process.env, BATCH_DATA: dataDir, BATCH_ENDPOINT: fake.endpoint, BATCH_WANT: want, NO_COLOR: '1', FORCE_COLOR: '0' },
    });
    return { code: 0, output: stdout + stderr, dataDir };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, output: e.stdout + e.stderr, dataDir };
  }
}

describe('akachat/vitest', () => {
  it('turns each cell into a test named prompt / model / t / input, and writes the reports', async () => {
    const { code, output, dataDir } = await childVitest('hi');
    expect(code, output).toBe(0);
    for (const name of ['echo / m1 / t=0 / "hi"', 'echo / m1 / t=1 / "hi"', 'echo / m2 / t=0 / "hi"', 'echo / m2 / t=1 / "hi"']) expect(output).toContain(name);
    expect(output).toMatch(/Tests\s+4 passed/);
    const files = await readdir(join(dataDir, 'log'));
    expect(files.filter((f) => f.startsWith('batch_')).map((f) => f.split('.').at(-1)).sort()).toEqual(['csv', 'html', 'json', 'jsonl', 'log', 'md']);
    await rm(dataDir, { recursive: true, force: true });
  }, 120_000);

  it('fails the run (exit code 1) when a check fails, naming the check', async () => {
    const { code, output, dataDir } = await childVitest('goodbye');
    expect(code).toBe(1);
    expect(output).toMatch(/Tests\s+4 failed/);
    expect(output).toContain('contains:goodbye: does not contain "goodbye"');
    await rm(dataDir, { recursive: true, force: true });
  }, 120_000);
});
