#!/usr/bin/env node
// Builds llama.cpp + native/ into build/Release/akachat.node with cmake-js.
//   --cuda        build the CUDA backend too (needs nvcc and cuBLAS)
//   --portable    build for any CPU of this architecture (used by scripts/prebuild.mjs)
//   --if-missing  do nothing when the addon is already built (used by npm test / npm start)
//   --target T    build only target T (e.g. llama-bench, for bench/)
// Environment: AKACHAT_LLAMA_CPP_DIR (another llama.cpp checkout), AKACHAT_CUDA=1 (same as
// --cuda), AKACHAT_BUILD_JOBS (parallel jobs, default: CPU count), AKACHAT_BUILD_DIR (build
// folder, default build/: a second tree can be built beside the first). ccache, when on PATH,
// caches compiled objects across build folders and rebuilds.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fetchLlama } from './fetch-llama.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** The addon a build into `buildDir` writes. */
export function builtAddon(buildDir) {
  return join(buildDir, 'Release', 'akachat.node');
}

/**
 * Fetches llama.cpp when needed and builds the addon into `buildDir` (throws on failure).
 * `portable`: the prebuild configuration (CMake option AKACHAT_PORTABLE).
 */
export function buildNative({ buildDir, cuda = false, portable = false, target, jobs = availableParallelism() }) {
  const llamaDir = fetchLlama();
  // cmake-js is a dependency of this package; resolve it wherever npm put it (hoisted or not).
  const cmakeJs = createRequire(import.meta.url).resolve('cmake-js/bin/cmake-js');
  const cmakeArgs = [
    cmakeJs, 'build', '--parallel', String(jobs), '--out', buildDir,
    `--CDLLAMA_CPP_DIR=${llamaDir}`,
    `--CDGGML_CUDA=${cuda ? 'ON' : 'OFF'}`,
    `--CDAKACHAT_PORTABLE=${portable ? 'ON' : 'OFF'}`,
  ];
  if (target) cmakeArgs.push('--target', target);
  if (hasCcache()) cmakeArgs.push('--CDCMAKE_C_COMPILER_LAUNCHER=ccache', '--CDCMAKE_CXX_COMPILER_LAUNCHER=ccache');
  if (process.env.CMAKE_CUDA_ARCHITECTURES) cmakeArgs.push(`--CDCMAKE_CUDA_ARCHITECTURES=${process.env.CMAKE_CUDA_ARCHITECTURES}`);
  console.error(`akachat: building the native addon (${cuda ? 'CPU + CUDA' : 'CPU'}${portable ? ', portable' : ''}) into ${buildDir}, ${jobs} jobs`);
  // CCACHE_BASEDIR: objects compiled in one build folder are reused by another.
  const env = { ...process.env, CCACHE_BASEDIR: process.env.CCACHE_BASEDIR ?? root };
  // `cmake-js build` configures only a new folder and ignores the options of later calls, so
  // `build:cuda` after `build:native` would build for the CPU again: configure when they changed.
  const cached = cachedOptions(buildDir);
  if (cached && cached.AKACHAT_PORTABLE !== portable) {
    throw new Error(`${buildDir} holds a ${cached.AKACHAT_PORTABLE ? 'portable' : 'non-portable'} build: use another AKACHAT_BUILD_DIR or delete it`);
  }
  if (cached && cached.GGML_CUDA !== cuda) {
    const defines = cmakeArgs.filter((arg) => arg.startsWith('--CD'));
    execFileSync(process.execPath, [cmakeJs, 'configure', '--out', buildDir, ...defines], { cwd: root, stdio: 'inherit', env });
  }
  execFileSync(process.execPath, cmakeArgs, { cwd: root, stdio: 'inherit', env });
}

/** GGML_CUDA and AKACHAT_PORTABLE as a configured build folder has them, or undefined for a new one. */
function cachedOptions(buildDir) {
  let text;
  try {
    text = readFileSync(join(buildDir, 'CMakeCache.txt'), 'utf8');
  } catch {
    return undefined;
  }
  const on = (name) => /^(ON|TRUE|1|YES)$/i.test(new RegExp(`^${name}:\\w+=(.*)$`, 'm').exec(text)?.[1] ?? 'OFF');
  return { GGML_CUDA: on('GGML_CUDA'), AKACHAT_PORTABLE: on('AKACHAT_PORTABLE') };
}

function hasCcache() {
  try {
    execFileSync('ccache', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const argv = process.argv.slice(2);
  const buildDir = resolve(root, process.env.AKACHAT_BUILD_DIR ?? 'build');
  if (argv.includes('--if-missing') && existsSync(builtAddon(buildDir))) process.exit(0);
  try {
    buildNative({
      buildDir,
      cuda: argv.includes('--cuda') || process.env.AKACHAT_CUDA === '1',
      portable: argv.includes('--portable'),
      target: argv.includes('--target') ? argv[argv.indexOf('--target') + 1] : undefined,
      jobs: process.env.AKACHAT_BUILD_JOBS ?? availableParallelism(),
    });
  } catch (err) {
    console.error(`build-native: ${err.message}`);
    process.exit(1);
  }
}
