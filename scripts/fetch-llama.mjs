#!/usr/bin/env node
// Fetches the pinned llama.cpp source into vendor/llama.cpp.
// Source: the git bundle inside the npm package node-llama-cpp@3.22.1 (only the source is
// used; akachat never depends on node-llama-cpp). Idempotent: a checkout at the pinned
// commit is left alone. Set AKACHAT_LLAMA_CPP_DIR to build against another checkout.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const LLAMA_PACKAGE = 'node-llama-cpp@3.22.1';
export const LLAMA_PACKAGE_INTEGRITY =
  'sha512-bltIipuWmc123H7tMIgDGKSsSrhmhlQYeVUC48XTjVW7XGJJiJJyCdlTMzQ/LiWoPkGDpcL4FviDpgw7qfTiDw==';
export const LLAMA_COMMIT = 'de3ff81';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const vendorDir = join(root, 'vendor', 'llama.cpp');

/** The llama.cpp checkout the build uses: AKACHAT_LLAMA_CPP_DIR or vendor/llama.cpp. */
export function llamaCppDir() {
  const override = process.env.AKACHAT_LLAMA_CPP_DIR;
  return override ? resolve(override) : vendorDir;
}

function git(args, cwd) {
  return execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

function headCommit(dir) {
  try { return git(['rev-parse', 'HEAD'], dir); } catch { return ''; }
}

export function fetchLlama({ log = console.error } = {}) {
  const override = process.env.AKACHAT_LLAMA_CPP_DIR;
  if (override) {
    const dir = resolve(override);
    if (!existsSync(join(dir, 'include', 'llama.h'))) {
      throw new Error(`AKACHAT_LLAMA_CPP_DIR=${override} is not a llama.cpp checkout (no include/llama.h)`);
    }
    log(`llama.cpp: using AKACHAT_LLAMA_CPP_DIR=${dir}`);
    return dir;
  }
  if (headCommit(vendorDir).startsWith(LLAMA_COMMIT)) return vendorDir;

  const cache = join(root, '.cache', 'llama-source');
  rmSync(cache, { recursive: true, force: true });
  mkdirSync(cache, { recursive: true });
  log(`llama.cpp: fetching ${LLAMA_PACKAGE} from the npm registry (source bundle only)`);
  const packed = JSON.parse(execFileSync('npm', ['pack', LLAMA_PACKAGE, '--json', '--pack-destination', cache], {
    encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'],
  }));
  const tgz = join(cache, packed[0].filename);
  const integrity = 'sha512-' + createHash('sha512').update(readFileSync(tgz)).digest('base64');
  if (integrity !== LLAMA_PACKAGE_INTEGRITY) {
    throw new Error(`integrity mismatch for ${LLAMA_PACKAGE}: expected ${LLAMA_PACKAGE_INTEGRITY}, got ${integrity}`);
  }
  execFileSync('tar', ['-xzf', tgz, '-C', cache, 'package/llama/gitRelease.bundle'], { stdio: 'inherit' });
  rmSync(vendorDir, { recursive: true, force: true });
  mkdirSync(dirname(vendorDir), { recursive: true });
  git(['clone', '--quiet', join(cache, 'package', 'llama', 'gitRelease.bundle'), vendorDir], root);
  const head = headCommit(vendorDir);
  if (!head.startsWith(LLAMA_COMMIT)) throw new Error(`llama.cpp bundle is at ${head}, expected ${LLAMA_COMMIT}`);
  rmSync(cache, { recursive: true, force: true });
  log(`llama.cpp: ${head.slice(0, 7)} in ${vendorDir}`);
  return vendorDir;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try { fetchLlama(); } catch (err) { console.error(`fetch-llama: ${err.message}`); process.exit(1); }
}
