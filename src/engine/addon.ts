import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AddonLoadError } from '../errors.js';
import type { NativeAddon } from './addon-types.js';

const require = createRequire(import.meta.url);
/**
 * The addon interface (methods and options) this code calls: the addon reports the one it was
 * built with (`interfaceVersion`, native/addon.cpp). Bump both when either side changes it.
 */
export const ADDON_INTERFACE = 2;
let loaded: { addon: NativeAddon; path: string; notes: string[] } | undefined;

/** The package root: the nearest folder upwards whose package.json is akachat's. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest)) {
      try {
        if (JSON.parse(readFileSync(manifest, 'utf8')).name === 'akachat') return dir;
      } catch { /* not ours: keep looking */ }
    }
    const parent = dirname(dir);
    if (parent === dir) throw new AddonLoadError('Cannot find the akachat package root (package.json named "akachat")');
    dir = parent;
  }
}

/** One place an addon may be, with what it is (for messages and `addonStatus()`). */
export interface AddonCandidate {
  path: string;
  kind: 'AKACHAT_ADDON_PATH' | 'source build' | 'CUDA prebuild' | 'CPU prebuild';
}

/** What decides where the addon is looked for; `addonCandidates` reads the real process by default. */
export interface AddonSearch {
  root: string;
  env: Record<string, string | undefined>;
  platform: string;
  arch: string;
  /** An NVIDIA driver is present (then a CUDA prebuild is tried first). */
  gpu: boolean;
}

/** True when the NVIDIA kernel driver is loaded: the CUDA prebuild can only help then. */
export function nvidiaDriverPresent(): boolean {
  return existsSync('/proc/driver/nvidia/version');
}

/**
 * Where the addon is looked for, in order: `AKACHAT_ADDON_PATH` alone when set; else a build
 * from source (`build/Release/akachat.node`, which wins as it was made for this machine), the
 * CUDA prebuild (`prebuilds/<platform>-<arch>-cuda/`) when a GPU driver is present and
 * `AKACHAT_CUDA` is not `0`, then the CPU prebuild (`prebuilds/<platform>-<arch>/`).
 */
export function addonCandidates(search: AddonSearch = currentSearch()): AddonCandidate[] {
  const explicit = search.env.AKACHAT_ADDON_PATH;
  if (explicit) return [{ path: explicit, kind: 'AKACHAT_ADDON_PATH' }];
  const prebuilds = join(search.root, 'prebuilds');
  const target = `${search.platform}-${search.arch}`;
  return [
    { path: join(search.root, 'build', 'Release', 'akachat.node'), kind: 'source build' },
    ...(search.gpu && search.env.AKACHAT_CUDA !== '0'
      ? [{ path: join(prebuilds, `${target}-cuda`, 'akachat.node'), kind: 'CUDA prebuild' as const }]
      : []),
    { path: join(prebuilds, target, 'akachat.node'), kind: 'CPU prebuild' },
  ];
}

function currentSearch(): AddonSearch {
  return { root: packageRoot(), env: process.env, platform: process.platform, arch: process.arch, gpu: nvidiaDriverPresent() };
}

/** The first candidate that loads and can compute, and why each one before it was passed over. */
export interface AddonChoice {
  addon?: NativeAddon;
  path?: string;
  /** Every candidate passed over, with the reason (`<path> (<kind>: <reason>)`). */
  tried: string[];
  /** What is worth telling even when an addon loaded: candidates that exist but failed, a CUDA prebuild without a GPU. */
  notes: string[];
}

/**
 * Tries `candidates` in order with `load` (`require` in production; tests pass a fake). A file
 * that is missing or fails to load is passed over with its reason; so is an addon whose ggml
 * found no CPU backend (a prebuild whose `libggml-cpu-*.so` were not copied along). A CUDA
 * prebuild that loads but finds no GPU still runs on the CPU: that is noted, not passed over. An
 * addon built from other sources (another ADDON_INTERFACE) is passed over, so a stale build/
 * after an update falls back to the prebuild, or the error says to rebuild.
 */
export function chooseAddon(
  candidates: readonly AddonCandidate[],
  load: (path: string) => NativeAddon,
  exists: (path: string) => boolean = existsSync,
): AddonChoice {
  const tried: string[] = [];
  const notes: string[] = [];
  const passOver = (line: string) => {
    tried.push(line);
    notes.push(line);
  };
  for (const { path, kind } of candidates) {
    if (!exists(path)) {
      tried.push(`${path} (${kind}: not found)`);
      continue;
    }
    let addon: NativeAddon;
    try {
      addon = load(path);
    } catch (err) {
      passOver(`${path} (${kind}: ${(err as Error).message.split('\n')[0]})`);
      continue;
    }
    if (addon.interfaceVersion !== ADDON_INTERFACE) {
      passOver(`${path} (${kind}: built from other akachat sources (addon interface ${addon.interfaceVersion ?? 1}, this code needs ${ADDON_INTERFACE}); rebuild it)`);
      continue;
    }
    const devices = addon.systemInfo().devices;
    if (!devices.some((device) => device.type === 'cpu')) {
      passOver(`${path} (${kind}: loaded, but ggml found no CPU backend library beside it)`);
      continue;
    }
    if (kind === 'CUDA prebuild' && !devices.some((device) => device.type === 'gpu')) {
      notes.push(`${path} (${kind}: no CUDA device usable, running on the CPU)`);
    }
    return { addon, path, tried, notes };
  }
  return { tried, notes };
}

/**
 * Loads the native addon once, from the first of `addonCandidates()` that works. When none
 * does, one error lists every place tried with its reason and how to build the addon.
 */
export function loadAddon(): NativeAddon {
  if (loaded) return loaded.addon;
  const choice = chooseAddon(addonCandidates(), (path) => require(path) as NativeAddon);
  if (choice.addon && choice.path) {
    loaded = { addon: choice.addon, path: choice.path, notes: choice.notes };
    // process.exit() skips the addon's cleanup hook and runs static destructors under running
    // decode threads: stop them first ('exit' is emitted before the process really exits).
    const { addon } = loaded;
    process.once('exit', () => addon.shutdown());
    return choice.addon;
  }
  throw new AddonLoadError(
    `The akachat native addon could not be loaded. Tried:\n  ${choice.tried.join('\n  ')}\n` +
      'Build it with `npm run build:native` (CPU) or `npm run build:cuda` (CUDA), which needs cmake and a C++ compiler, ' +
      'or set AKACHAT_ADDON_PATH to a built akachat.node.',
  );
}

/** Whether the addon loads, and from where or why not (for `/api/health` and the server banner). */
export type AddonStatus = { ok: true; path: string; notes: string[] } | { ok: false; message: string };

/** Loads the addon if it is not loaded yet and says how that went; never throws. */
export function addonStatus(): AddonStatus {
  try {
    loadAddon();
    return { ok: true, path: loaded!.path, notes: loaded!.notes };
  } catch (err) {
    return { ok: false, message: (err as Error).message };
  }
}

/** True when an addon file exists where loadAddon() looks (without loading it). */
export function addonAvailable(): boolean {
  return addonCandidates().some((candidate) => existsSync(candidate.path));
}
