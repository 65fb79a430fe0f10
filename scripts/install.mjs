#!/usr/bin/env node
// npm's install step, in a clone and in a consumer's node_modules alike (also run before `npm
// test` and `npm start`): makes sure a native addon loads. It keeps, in this order,
// AKACHAT_ADDON_PATH, a build from source in build/, or the prebuilt binary for this platform
// (prebuilds/<platform>-<arch>/, tried in a child process); only when none is there or loads does
// it build from source, saying what that takes. AKACHAT_CUDA=1 builds from source with CUDA
// even where the CPU prebuild loads; AKACHAT_SKIP_BUILD=1 skips the build (for installs that
// only use remote providers).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildNative, builtAddon } from './build-native.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { nodeTooOld } = createRequire(import.meta.url)('./check-node.cjs');
const log = (line) => console.error(`akachat: ${line}`);

/** Why the prebuilt addon cannot be used here, or undefined when it loads and finds a CPU backend. */
function prebuildProblem(addon) {
  if (!existsSync(addon)) return `no prebuilt binary for ${process.platform}-${process.arch} in this package`;
  const probe = "const i = require(process.argv[1]).systemInfo(); if (!i.devices.some((d) => d.type === 'cpu')) throw new Error('no CPU backend library beside it');";
  const child = spawnSync(process.execPath, ['-e', probe, addon], { encoding: 'utf8' });
  if (child.status === 0) return undefined;
  const lines = `${child.stderr}`.split('\n').filter((line) => /Error/.test(line));
  return `the prebuilt binary does not load here (${(lines[0] ?? `exit ${child.status}`).trim()})`;
}

function missingTools() {
  const has = (command) => spawnSync(command, ['--version'], { stdio: 'ignore' }).status === 0;
  const missing = [];
  if (!has('cmake')) missing.push('cmake (>= 3.19)');
  if (!['c++', 'g++', 'clang++'].some(has)) missing.push('a C++17 compiler (g++ or clang++)');
  if (!has('make') && !has('ninja')) missing.push('make or ninja');
  if (!has('git')) missing.push('git');
  return missing;
}

function main() {
  const old = nodeTooOld();
  if (old) log(`warning: ${old}`);
  if (process.env.AKACHAT_ADDON_PATH) return log(`using AKACHAT_ADDON_PATH=${process.env.AKACHAT_ADDON_PATH}`);
  const buildDir = join(root, 'build');
  if (existsSync(builtAddon(buildDir))) return;
  const cuda = process.env.AKACHAT_CUDA === '1';
  // AKACHAT_CUDA=1 asks for a CUDA build from source even where a CPU prebuild would load.
  const problem = cuda ? 'AKACHAT_CUDA=1' : prebuildProblem(join(root, 'prebuilds', `${process.platform}-${process.arch}`, 'akachat.node'));
  if (!problem) return log(`using the prebuilt native addon for ${process.platform}-${process.arch}`);
  if (process.env.AKACHAT_SKIP_BUILD === '1') {
    return log(`${problem}; AKACHAT_SKIP_BUILD=1, so the native addon is not built (local models will not run until \`npm run build:native\`)`);
  }
  log(`${problem}; building the native addon from source${cuda ? ' with CUDA (needs nvcc and cuBLAS)' : ''}.`);
  log('  what: fetches the pinned llama.cpp source (node-llama-cpp@3.22.1 from the npm registry, integrity-checked) and compiles it with the addon (cmake-js) into build/');
  log('  time: about 15 CPU-minutes, so 5-10 minutes on 2-4 free cores (CUDA: much longer); AKACHAT_BUILD_JOBS sets the parallel jobs');
  log('  needs: cmake >= 3.19, a C++17 compiler, make or ninja, git; AKACHAT_SKIP_BUILD=1 skips this build');
  const missing = missingTools();
  if (missing.length) {
    log(`cannot build: ${missing.join(', ')} not found on PATH. Install them (Debian/Ubuntu: apt-get install cmake g++ make git) and run \`npm rebuild akachat\`, or set AKACHAT_SKIP_BUILD=1.`);
    process.exit(1);
  }
  const started = Date.now();
  try {
    buildNative({ buildDir, cuda, jobs: process.env.AKACHAT_BUILD_JOBS ?? undefined });
  } catch (err) {
    log(`the build failed: ${err.message}`);
    process.exit(1);
  }
  log(`native addon built in ${((Date.now() - started) / 60000).toFixed(1)} minutes: ${builtAddon(buildDir)}`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
