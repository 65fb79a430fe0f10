#!/usr/bin/env node
// `npm run prebuild [-- --cuda]`: builds the portable addon (CMake option AKACHAT_PORTABLE) in
// build-prebuild/ or build-prebuild-cuda/ (AKACHAT_BUILD_DIR) and copies it, with the libraries it loads, into
// prebuilds/<platform>-<arch>[-cuda]/, which `npm pack` carries. Then loads the copy in a child
// process as a check. The folder holds akachat.node, libllama/libggml*.so.N (found through
// RUNPATH $ORIGIN) and one libggml-cpu-<level>.so per instruction-set level, of which ggml
// loads the best for the CPU it runs on (with --cuda also libggml-cuda.so).
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, lstatSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildNative } from './build-native.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const cuda = process.argv.includes('--cuda') || process.env.AKACHAT_CUDA === '1';
const buildDir = resolve(root, process.env.AKACHAT_BUILD_DIR ?? (cuda ? 'build-prebuild-cuda' : 'build-prebuild'));
const target = `${process.platform}-${process.arch}${cuda ? '-cuda' : ''}`;
const out = join(root, 'prebuilds', target);

/**
 * The files of a portable build that belong in a prebuild folder: the addon, each shared
 * library under the versioned name the loader asks for (libllama.so.0: a link in the build
 * folder, copied as a file), and ggml's backend modules (libggml-<backend>[-<level>].so, plain
 * files; the unversioned links such as libggml-base.so are left out). The AMX level is left out
 * unless AKACHAT_AMX=1: some virtual machines report AMX and then fault on its instructions
 * (see AKACHAT_AMX in CMakeLists.txt).
 */
export function prebuildFiles(names, isLink) {
  return names.filter((name) =>
    name === 'akachat.node' ||
    /^lib[\w-]+\.so\.\d+$/.test(name) ||
    (/^libggml-[\w-]+\.so$/.test(name) && !isLink(name) && (process.env.AKACHAT_AMX === '1' || name !== 'libggml-cpu-sapphirerapids.so')));
}

/**
 * llama.cpp and ggml symbols the addon leaves undefined that no library of the folder defines
 * (empty when `nm` is missing). A shared library may link with such holes and fail only when the
 * call runs, so this is checked here rather than found by a user.
 */
function unresolvedSymbols(folder, files) {
  const symbols = (file, flag) => {
    const listed = spawnSync('nm', ['-D', flag, join(folder, file)], { encoding: 'utf8' });
    return listed.status === 0 ? listed.stdout.split('\n').map((line) => line.trim().split(/\s+/).pop()) : [];
  };
  if (spawnSync('nm', ['--version'], { stdio: 'ignore' }).status !== 0) return [];
  const defined = new Set(files.filter((name) => name !== 'akachat.node' && !name.startsWith('libggml-cpu')).flatMap((name) => symbols(name, '--defined-only')));
  return symbols('akachat.node', '--undefined-only').filter((name) => /^(ggml|gguf|llama)_/.test(name) && !defined.has(name));
}

function main() {
  const started = Date.now();
  buildNative({ buildDir, cuda, portable: true, jobs: process.env.AKACHAT_BUILD_JOBS ?? availableParallelism() });
  // cmake-js writes the addon to Release/; llama.cpp writes its libraries to bin/.
  const folderOf = new Map();
  for (const folder of [join(buildDir, 'Release'), join(buildDir, 'bin')]) {
    for (const name of existsSync(folder) ? readdirSync(folder) : []) if (!folderOf.has(name)) folderOf.set(name, folder);
  }
  const files = prebuildFiles([...folderOf.keys()], (name) => lstatSync(join(folderOf.get(name), name)).isSymbolicLink());
  if (!files.includes('akachat.node') || !files.some((name) => name.startsWith('libggml-cpu'))) {
    throw new Error(`${buildDir} lacks Release/akachat.node or bin/libggml-cpu-*.so: was it built with AKACHAT_PORTABLE=ON?`);
  }
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  let strip = spawnSync('strip', ['--version'], { stdio: 'ignore' }).status === 0;
  for (const name of files) {
    const dest = join(out, name);
    copyFileSync(join(folderOf.get(name), name), dest);  // follows the versioned-name link
    if (strip) {
      try {
        execFileSync('strip', ['--strip-unneeded', dest]);
      } catch (err) {
        console.error(`prebuild: strip failed (${err.message}); copying the rest unstripped`);
        strip = false;
      }
    }
  }
  const unresolved = unresolvedSymbols(out, files);
  if (unresolved.length) throw new Error(`akachat.node needs ${unresolved.join(', ')}, which none of the libraries beside it defines (ggml-cpu.h functions live in the CPU library chosen at run time: forward them in native/portable/backend-dl.cpp)`);
  const check = spawnSync(process.execPath, ['-e', "const i = require(process.argv[1]).systemInfo(); console.log(i.llama); console.log(i.devices.map((d) => d.type + ': ' + d.description).join('\\n'))", join(out, 'akachat.node')], { encoding: 'utf8' });
  if (check.status !== 0) throw new Error(`the prebuilt addon does not load:\n${check.stderr}`);
  const bytes = files.reduce((sum, name) => sum + statSync(join(out, name)).size, 0);
  console.error(`prebuild: ${out} (${files.length} files, ${(bytes / 2 ** 20).toFixed(1)} MiB) in ${((Date.now() - started) / 60000).toFixed(1)} min; loads here as:\n${check.stdout.trim()}`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    main();
  } catch (err) {
    console.error(`prebuild: ${err.message}`);
    process.exit(1);
  }
}
