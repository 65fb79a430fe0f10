import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PromptStore } from '../../src/prompt/store.js';
import { VarStore } from '../../src/vars/store.js';

// A writer that saves one prompt over and over, alternating a short and a long instruction;
// each save's number is in both files, so a torn pair shows as two different numbers.
const WRITER = `
import { PromptStore } from '../../src/prompt/store.ts';
const [folder, first] = process.argv.slice(2);
const store = new PromptStore(folder);
const save = (i) => store.save('chara/pair', 'save ' + i + '\\n' + 'x'.repeat(i % 2 ? 200_000 : 10), { save: i, note: 'あ'.repeat(i % 50) });
let i = Number(first);
await save(i);
process.stdout.write('ready\\n');
for (;;) await save(++i);
`;

const KILLS = 80;

let work: string;
let writer: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'akachat-crash-'));
  writer = join(work, 'writer.mjs');
  // Bundled once so that each child starts in tens of milliseconds.
  await build({
    stdin: { contents: WRITER, resolveDir: import.meta.dirname, loader: 'ts' },
    bundle: true, platform: 'node', format: 'esm', outfile: writer, logLevel: 'error',
  });
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** Starts a writer, waits for its first save, lets it run a random while and kills it with SIGKILL. */
async function killWriterMidway(folder: string, first: number): Promise<void> {
  const child = spawn(process.execPath, [writer, folder, String(first)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    child.stdout.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`writer exited early with code ${code}`)));
  });
  await new Promise((resolve) => setTimeout(resolve, Math.random() * 25));
  child.kill('SIGKILL');
  await exited;
}

describe('PromptStore after kill -9', () => {
  it(`never leaves a torn pair or temporary files (${KILLS} kills)`, async () => {
    const data = join(work, 'data');
    const folder = join(data, 'prompt', 'chara');
    let leftovers = 0;
    for (let kill = 0; kill < KILLS; kill++) {
      await killWriterMidway(data, kill * 1_000_000);
      if ((await readdir(folder)).some((name) => name.startsWith('.'))) leftovers++;
      const loaded = await new PromptStore(data).load('chara/pair'); // the open recovers
      const fromText = Number(/^save (\d+)\n/.exec(loaded.instruction)?.[1]);
      expect({ kill, fromText }).toEqual({ kill, fromText: loaded.rawOptions.save });
      expect(loaded.instruction.length).toBe(String(fromText).length + 6 + (fromText % 2 ? 200_000 : 10));
      expect(await readdir(folder)).toEqual(['pair.json', 'pair.txt']);
    }
    // The kills must land inside saves, or this test proves nothing.
    expect(leftovers).toBeGreaterThanOrEqual(KILLS / 10);
    console.log(`${KILLS} kills, ${leftovers} left a save half done; all recovered to whole pairs`);
  }, 90_000);

  it('rolls a committed save forward and drops an uncommitted one', async () => {
    const data = join(work, 'manual');
    const folder = join(data, 'prompt');
    const store = new PromptStore(data);
    await store.save('p', 'old', { v: 'old' });
    await store.save('q', 'old', { v: 'old' });
    // p: a dead writer (pid 2^22+1 does not exist) had renamed the .json and committed.
    const dead = `${2 ** 22 + 1}.0123456789ab`;
    await writeFile(join(folder, 'p.json'), '{"v": "new"}');
    await writeFile(join(folder, `.p.txt.${dead}.tmp`), 'new');
    await writeFile(join(folder, `.p.${dead}.commit`), '');
    // q: a dead writer had written its temporaries but not committed.
    await writeFile(join(folder, `.q.txt.${dead}.tmp`), 'new');
    await writeFile(join(folder, `.q.json.${dead}.tmp`), '{"v": "new"}');
    const reopened = new PromptStore(data);
    expect(await reopened.load('p')).toMatchObject({ instruction: 'new', rawOptions: { v: 'new' } });
    expect(await reopened.load('q')).toMatchObject({ instruction: 'old', rawOptions: { v: 'old' } });
    expect((await readdir(folder)).sort()).toEqual(['p.json', 'p.txt', 'q.json', 'q.txt']);
    expect(await readFile(join(folder, 'p.txt'), 'utf8')).toBe('new');
  });

  it('leaves the temporaries of a live writer alone', async () => {
    const data = join(work, 'live');
    const folder = join(data, 'prompt');
    await new PromptStore(data).save('p', 'old', {});
    const live = `${process.ppid}.0123456789ab`; // the parent process: alive, and not this process
    await writeFile(join(folder, `.p.txt.${live}.tmp`), 'new');
    await writeFile(join(folder, `.p.${live}.commit`), '');
    expect((await new PromptStore(data).load('p')).instruction).toBe('old');
    expect((await readdir(folder)).filter((name) => name.startsWith('.'))).toHaveLength(2);
  });
});

describe('writeFileAtomic after a crash', () => {
  it('removes the temporaries of dead writers at its first write into a folder, and only those', async () => {
    const data = join(work, 'vars-data');
    const folder = join(data, 'vars');
    await mkdir(folder, { recursive: true });
    const dead = `.name.txt.${2 ** 22 + 1}.0123456789ab.tmp`;
    const live = `.name.txt.${process.ppid}.0123456789ab.tmp`;
    const foreign = '.notes.txt.tmp';
    for (const name of [dead, live, foreign]) await writeFile(join(folder, name), 'partial');
    await new VarStore(data).set('name', 'new');
    expect((await readdir(folder)).sort()).toEqual([live, foreign, 'name.txt'].sort());
    expect(await new VarStore(data).get('name')).toBe('new');
  });
});
