/**
 * The portable prebuild (`npm run prebuild`): ggml picks the CPU library for the CPU it runs on,
 * from the addon's own folder wherever that folder is moved, and the loader passes over a copy
 * whose CPU libraries were left behind. Skipped (with the reason printed) without a prebuild.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');
const prebuilt = join(root, 'prebuilds', `${process.platform}-${process.arch}`);
const present = existsSync(join(prebuilt, 'akachat.node'));
if (!present) console.warn(`[akachat tests] skipping prebuild tests: no ${prebuilt} (run \`npm run prebuild\`)`);
const work = mkdtempSync(join(tmpdir(), 'akachat-prebuild-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** A copy of the prebuild folder with only the CPU levels `keep` (all when undefined). */
function copyWith(name: string, keep?: (level: string) => boolean): string {
  const dir = join(work, name);
  cpSync(prebuilt, dir, { recursive: true });
  for (const file of readdirSync(dir)) {
    const level = /^libggml-cpu-(.+)\.so$/.exec(file)?.[1];
    if (level && keep && !keep(level)) rmSync(join(dir, file));
  }
  return dir;
}

/** addonStatus() and the CPU features llama.cpp reports, in a child loading the addon from `dir` (run from elsewhere). */
function loadFrom(dir: string): { status: { ok: boolean; path?: string; message?: string }; features: string } {
  const script = `import('${join(root, 'src/engine/addon.ts')}').then((m) => {
    const status = m.addonStatus();
    console.log(JSON.stringify({ status, features: status.ok ? m.loadAddon().systemInfo().llama : '' }));
  })`;
  const child = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], {
    cwd: root, encoding: 'utf8', env: { ...process.env, AKACHAT_ADDON_PATH: join(dir, 'akachat.node') },
  });
  if (child.status !== 0) throw new Error(child.stderr);
  return JSON.parse(child.stdout);
}

const cpuFlags = existsSync('/proc/cpuinfo') ? (/^flags\s*:(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? '').split(' ') : [];

describe.skipIf(!present)('portable prebuild', () => {
  it('carries the addon, its libraries and the CPU levels, without the AMX one', () => {
    const files = readdirSync(prebuilt);
    expect(files).toEqual(expect.arrayContaining(['akachat.node', 'libllama.so.0', 'libggml.so.0', 'libggml-base.so.0', 'libggml-cpu-x64.so', 'libggml-cpu-haswell.so', 'libggml-cpu-skylakex.so']));
    expect(files).not.toContain('libggml-cpu-sapphirerapids.so');
  });

  it('loads from a moved folder the best CPU level for this CPU', () => {
    const { status, features } = loadFrom(copyWith('all'));
    expect(status.ok).toBe(true);
    expect(status.path).toBe(join(work, 'all', 'akachat.node'));
    if (cpuFlags.includes('avx2')) expect(features).toMatch(/AVX2 = 1/);
  });

  it('falls back to a lower level when the better ones are absent', () => {
    const { status, features } = loadFrom(copyWith('baseline', (level) => level === 'x64'));
    expect(status.ok).toBe(true);
    expect(features).not.toMatch(/AVX2 = 1|AVX = 1/);
  });

  it('is passed over, with the reason, when no CPU library came along', () => {
    const { status } = loadFrom(copyWith('none', () => false));
    expect(status.ok).toBe(false);
    expect(status.message).toMatch(/loaded, but ggml found no CPU backend library beside it/);
  });
});
