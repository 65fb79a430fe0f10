/**
 * akachat as a consumer gets it: `npm pack` -> `npm ci --offline` of the tarball into an empty
 * project -> ESM import, CJS require, a generation with stories260K, `npx akachat --version`,
 * and tsc with skipLibCheck false, all with nothing but node, npm, npx and sh on PATH (no compiler,
 * no cmake, no git), so the addon can only come from the tarball's prebuild.
 *
 * The tarball carries prebuilds/<platform>-<arch>/ when `npm run prebuild` has made one. Without
 * it, the addon built in build/ (or AKACHAT_ADDON_PATH) is put into the tarball as its prebuild,
 * so the install path is still tested (the portable build itself is then not).
 *
 * Offline: the consumer's lockfile pins the package's dependencies to the versions, addresses
 * and integrity hashes of this repository's lockfile, whose tarballs are in the npm cache.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, delimiter, dirname, join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { sharedModel } from '../support/models.js';

const root = resolve(import.meta.dirname, '../..');
const target = `${process.platform}-${process.arch}`;
const prebuilt = join(root, 'prebuilds', target, 'akachat.node');
const localAddon = [process.env.AKACHAT_ADDON_PATH, join(root, 'build', 'Release', 'akachat.node')].find((path) => path && existsSync(path));
const addon = existsSync(prebuilt) ? prebuilt : localAddon;
if (!addon) console.warn(`[akachat tests] skipping the consumer test: no prebuilds/${target} and no built addon (run \`npm run prebuild\` or \`npm run build:native\`)`);
const stories = addon ? sharedModel('stories') : undefined;

const work = mkdtempSync(join(tmpdir(), 'akachat-consumer-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** npm's own entry script (npm-cli.js / npx-cli.js), wherever this machine's npm lives. */
function npmScript(name: 'npm' | 'npx'): string {
  const fromEnv = process.env.npm_execpath;
  if (fromEnv && basename(fromEnv) === 'npm-cli.js') return join(dirname(fromEnv), `${name}-cli.js`);
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const file = join(dir, name);
    if (existsSync(file)) return realpathSync(file);
  }
  throw new Error(`${name} not found on PATH`);
}

/** A PATH with node, npm, npx and sh (npm runs scripts with it) only; an environment without npm's and akachat's settings. */
function bareEnvironment(): NodeJS.ProcessEnv {
  const bin = join(work, 'bin');
  mkdirSync(bin, { recursive: true });
  symlinkSync(process.execPath, join(bin, 'node'));
  symlinkSync(npmScript('npm'), join(bin, 'npm'));
  symlinkSync(npmScript('npx'), join(bin, 'npx'));
  symlinkSync('/bin/sh', join(bin, 'sh'));
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!/^(npm_|AKACHAT_|NODE_OPTIONS$|PATH$)/i.test(key)) env[key] = value;
  }
  env.PATH = bin;
  return env;
}

/**
 * The consumer's lockfile: akachat from the tarball, and akachat's dependencies exactly as this
 * repository's lockfile has them (the non-dev entries, hoisted the same way).
 */
function consumerLock(tarball: string, manifest: { version: string; dependencies: Record<string, string>; bin: unknown; engines: unknown }) {
  const repoLock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean; devOptional?: boolean; resolved?: string; version?: string }> };
  const resolved = `file:${basename(tarball)}`;
  const packages: Record<string, unknown> = {
    '': { name: 'consumer', version: '1.0.0', dependencies: { akachat: resolved } },
    'node_modules/akachat': {
      version: manifest.version,
      resolved,
      integrity: `sha512-${createHash('sha512').update(readFileSync(tarball)).digest('base64')}`,
      hasInstallScript: true,
      dependencies: manifest.dependencies,
      bin: manifest.bin,
      engines: manifest.engines,
    },
  };
  for (const [path, entry] of Object.entries(repoLock.packages)) {
    if (path === '' || entry.dev || entry.devOptional) continue;
    // An entry without its address (npm leaves it out now and then) would make npm ask the
    // registry where the tarball is; the registry's address scheme gives it.
    const name = path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length);
    packages[path] = entry.resolved || !entry.version ? entry : { ...entry, resolved: `https://registry.npmjs.org/${name}/-/${name.split('/').pop()}-${entry.version}.tgz` };
  }
  return { name: 'consumer', version: '1.0.0', lockfileVersion: 3, requires: true, packages };
}

describe.skipIf(!stories)('the packed package in a consumer project', () => {
  it('installs offline with no compiler on PATH, imports (ESM and CJS), generates, runs its bin and type-checks', () => {
    /** Runs a command; returns its stdout (and stderr, for messages) or throws with both. */
    const run = (command: string, args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv; timeout?: number }) => {
      const child = spawnSync(command, args, { encoding: 'utf8', timeout: 120_000, ...options });
      if (child.status !== 0) throw new Error(`${command} ${args.join(' ')} failed (${child.error?.message ?? `exit ${child.status}`}):\n${child.stdout}\n${child.stderr}`);
      return Object.assign(child.stdout, { stderr: child.stderr });
    };

    // Pack what a publisher packs: dist/ built from the current sources, prebuilds/ as it is.
    run(process.execPath, [join(root, 'node_modules', 'tsup', 'dist', 'cli-default.js')], { cwd: root });
    const packs = join(work, 'packs');
    mkdirSync(packs);
    const [packed] = JSON.parse(run(process.execPath, [npmScript('npm'), 'pack', '--ignore-scripts', '--json', '--pack-destination', packs], { cwd: root })) as
      { filename: string; size: number; unpackedSize: number; files: { path: string }[] }[];
    let tarball = join(packs, packed!.filename);
    console.log(`[akachat tests] npm pack: ${packed!.filename} ${(packed!.size / 2 ** 20).toFixed(1)} MiB (${(packed!.unpackedSize / 2 ** 20).toFixed(1)} MiB unpacked, ${packed!.files.length} files)`);

    if (addon !== prebuilt) {
      // No portable prebuild: the local build stands in for it, in a repacked tarball.
      console.log(`[akachat tests] no prebuilds/${target}: packing ${addon} as the prebuild`);
      const unpacked = join(work, 'unpacked');
      mkdirSync(unpacked);
      run('tar', ['-xzf', tarball, '-C', unpacked], { cwd: work });
      const dest = join(unpacked, 'package', 'prebuilds', target);
      mkdirSync(dest, { recursive: true });
      for (const name of readdirSync(dirname(addon!))) {
        if (/\.node$|\.so(\.\d+)*$/.test(name)) copyFileSync(join(dirname(addon!), name), join(dest, name));
      }
      rmSync(tarball);
      const [repacked] = JSON.parse(run(process.execPath, [npmScript('npm'), 'pack', '--ignore-scripts', '--json', '--pack-destination', packs, join(unpacked, 'package')], { cwd: work })) as { filename: string }[];
      tarball = join(packs, repacked!.filename);
    }

    const app = join(work, 'app');
    mkdirSync(app);
    copyFileSync(tarball, join(app, basename(tarball)));
    const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, type: 'module', dependencies: { akachat: `file:${basename(tarball)}` } }));
    writeFileSync(join(app, 'package-lock.json'), JSON.stringify(consumerLock(join(app, basename(tarball)), manifest)));

    const env = bareEnvironment();
    for (const tool of ['cc', 'c++', 'g++', 'cmake', 'make', 'git']) {
      expect(env.PATH!.split(delimiter).some((dir) => existsSync(join(dir, tool))), tool).toBe(false);
    }
    const install = run('npm', ['ci', '--offline', '--foreground-scripts', '--no-audit', '--no-fund'], { cwd: app, env, timeout: 180_000 });
    expect(install.stderr).toContain(`akachat: using the prebuilt native addon for ${target}`);

    writeFileSync(join(app, 'esm.mjs'), `
      import { Model, addonStatus } from 'akachat';
      import { createApp } from 'akachat/http';
      const model = await Model.load(process.argv[2]);
      const context = await model.createContext({ contextSize: 256 });
      const { text, generatedTokens } = await context.generate('Once upon a time', { temperature: 0, maxTokens: 12 }).result;
      await model.dispose();
      console.log(JSON.stringify({ status: addonStatus(), text, generatedTokens, createApp: typeof createApp }));
    `);
    const esm = JSON.parse(run('node', ['esm.mjs', stories!], { cwd: app, env }));
    expect(esm.status).toMatchObject({ ok: true, path: join(app, 'node_modules', 'akachat', 'prebuilds', target, 'akachat.node') });
    expect(esm.generatedTokens).toBe(12);
    expect(esm.text.length).toBeGreaterThan(0);
    expect(esm.createApp).toBe('function');

    writeFileSync(join(app, 'cjs.cjs'), `
      const { readGgufMetadata } = require('akachat');
      const { createApp } = require('akachat/http');
      readGgufMetadata(process.argv[2]).then((meta) => console.log(JSON.stringify({ architecture: meta.architecture, createApp: typeof createApp })));
    `);
    const cjs = JSON.parse(run('node', ['cjs.cjs', stories!], { cwd: app, env }));
    expect(cjs).toEqual({ architecture: 'llama', createApp: 'function' });

    expect(run('npx', ['--offline', 'akachat', '--version'], { cwd: app, env }).trim()).toBe(manifest.version);

    // A Node-only consumer: no DOM lib, library types checked (skipLibCheck false).
    writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({
      compilerOptions: {
        target: 'ES2023', lib: ['ES2023'], module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, skipLibCheck: false,
        types: ['node'], typeRoots: [join(root, 'node_modules', '@types')],
      },
      files: ['main.ts', 'main.cts'],
    }));
    writeFileSync(join(app, 'main.ts'), "import { Model, Akachat } from 'akachat';\nimport { createApp, serve } from 'akachat/http';\nexport const all = [Model, Akachat, createApp, serve];\n");
    writeFileSync(join(app, 'main.cts'), "import akachat = require('akachat');\nimport http = require('akachat/http');\nexport const all = [akachat.Model, http.serve];\n");
    run('node', [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', '.'], { cwd: app, env });
  }, 420_000);
});
