/**
 * The README's TypeScript examples run as written, so they cannot rot. Each ```ts block is one
 * program: it runs in a folder of its own that holds the files the README names
 * (stories260K.gguf and model.gguf: the stories260K test model; embed.gguf: the BERT test
 * model; docs.zip: two short documents), with `'akachat'` and `'akachat/http'` pointed at src/
 * (the packed package is tested in consumer.test.ts).
 */
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { strToU8, zipSync } from 'fflate';
import { afterAll, describe, expect, it } from 'vitest';
import { addonBuilt, sharedModel } from '../support/models.js';

const root = resolve(import.meta.dirname, '../..');
const blocks = [...readFileSync(join(root, 'README.md'), 'utf8').matchAll(/```ts\n([\s\S]*?)```/g)].map((match) => match[1]!);
const stories = addonBuilt ? sharedModel('stories') : undefined;
const bert = addonBuilt ? sharedModel('bert') : undefined;
const work = join(root, 'test', '.tmp', `readme-${process.pid}`);
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** The block with its package imports pointed at the sources. */
export function pointAtSources(code: string): string {
  return code
    .replaceAll("from 'akachat/http'", `from ${JSON.stringify(join(root, 'src/http/index.ts'))}`)
    .replaceAll("from 'akachat'", `from ${JSON.stringify(join(root, 'src/index.ts'))}`);
}

describe('README examples', () => {
  it('has TypeScript examples to run', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(2);
    expect(blocks.every((block) => /from 'akachat(\/http)?'/.test(block))).toBe(true);
  });

  blocks.forEach((block, index) => {
    const title = block.split('\n').find((line) => line.includes('akachat') && line.startsWith('import')) ?? 'block';
    it.skipIf(!stories || !bert)(`block ${index + 1} runs (${title})`, async () => {
      const dir = join(work, `block-${index + 1}`);
      mkdirSync(dir, { recursive: true });
      symlinkSync(stories!, join(dir, 'stories260K.gguf'));
      symlinkSync(stories!, join(dir, 'model.gguf'));
      symlinkSync(bert!, join(dir, 'embed.gguf'));
      writeFileSync(join(dir, 'docs.zip'), zipSync({
        'returns.txt': strToU8('返品の方法: 商品到着後7日以内にお問い合わせください。送料はお客様のご負担です。'),
        'shipping.txt': strToU8('配送について: ご注文から3営業日以内に発送します。'),
      }));
      const file = join(dir, 'example.mts');
      writeFileSync(file, pointAtSources(block));
      // A reader's program should end when its work does: 30 s is far more than these need.
      const run = promisify(execFile)(process.execPath, ['--import', 'tsx', file], { cwd: dir, timeout: 30_000 });
      const { stderr } = await run.catch((error: { stdout: string; stderr: string; message: string; killed?: boolean }) => {
        const why = error.killed ? 'did not exit within 30 s' : 'failed';
        throw new Error(`README block ${index + 1} ${why}:\n${block}\n--- output ---\n${error.stdout}\n${error.stderr || error.message}`);
      });
      expect(stderr).not.toMatch(/Error/);
    }, 60_000);
  });
});
