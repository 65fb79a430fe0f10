#!/usr/bin/env node
// Builds llama.cpp + native/ into build/Release/akachat.node with cmake-js.
//   --cuda        build the CUDA backend too (needs nvcc and cuBLAS)
//   --if-missing  do nothing when the addon is already built (used by npm test / npm start)
//   --target T    build only target T (e.g. llama-bench, for bench/)
// Environment: AKACHAT_LLAMA_CPP_DIR (another llama.cpp checkout), AKACHAT_CUDA=1 (same as
// --cuda), AKACHAT_BUILD_JOBS (parallel jobs, default: CPU count), AKACHAT_BUILD_DIR (build
// folder, default build/: a second tree can be built beside the first). ccache, when on PATH,
// caches compiled objects across build folders and rebuilds.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fetchLlama } from './fetch-llama.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const argv = process.argv.slice(2);
const args = new Set(argv);
const target = argv.includes('--target') ? argv[argv.indexOf('--target') + 1] : undefined;
const cuda = args.has('--cuda') || process.env.AKACHAT_CUDA === '1';
const buildDir = resolve(root, process.env.AKACHAT_BUILD_DIR ?? 'build');
const addon = join(buildDir, 'Release', 'akachat.node');

if (args.has('--if-missing') && existsSync(addon)) process.exit(0);

try {
  const llamaDir = fetchLlama();
  const jobs = process.env.AKACHAT_BUILD_JOBS ?? String(availableParallelism());
  const cmakeJs = join(root, 'node_modules', 'cmake-js', 'bin', 'cmake-js');
  const cmakeArgs = [
    cmakeJs, 'build', '--parallel', jobs, '--out', buildDir,
    `--CDLLAMA_CPP_DIR=${llamaDir}`,
    `--CDGGML_CUDA=${cuda ? 'ON' : 'OFF'}`,
  ];
  if (target) cmakeArgs.push('--target', target);
  if (hasCcache()) cmakeArgs.push('--CDCMAKE_C_COMPILER_LAUNCHER=ccache', '--CDCMAKE_CXX_COMPILER_LAUNCHER=ccache');
  if (process.env.CMAKE_CUDA_ARCHITECTURES) cmakeArgs.push(`--CDCMAKE_CUDA_ARCHITECTURES=${process.env.CMAKE_CUDA_ARCHITECTURES}`);
  console.error(`akachat: building the native addon (${cuda ? 'CPU + CUDA' : 'CPU'}), ${jobs} jobs; the first build takes several minutes`);
  // CCACHE_BASEDIR: objects compiled in one build folder are reused by another.
  const env = { ...process.env, CCACHE_BASEDIR: process.env.CCACHE_BASEDIR ?? root };
  execFileSync(process.execPath, cmakeArgs, { cwd: root, stdio: 'inherit', env });
} catch (err) {
  console.error(`build-native: ${err.message}`);
  process.exit(1);
}

function hasCcache() {
  try {
    execFileSync('ccache', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
