import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AddonLoadError } from '../errors.js';
import type { NativeAddon } from './addon-types.js';

const require = createRequire(import.meta.url);
let loaded: NativeAddon | undefined;

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

interface NodeGypBuild {
  path(dir: string): string;
}

/**
 * Loads the native addon once: `AKACHAT_ADDON_PATH` when set, else what node-gyp-build finds
 * (`build/Release`, `build/Debug`, then `prebuilds/<platform>-<arch>/` packed by prebuildify).
 * When nothing loads, one error lists every place tried and how to build the addon.
 */
export function loadAddon(): NativeAddon {
  if (loaded) return loaded;
  const root = packageRoot();
  const tried: string[] = [];
  const attempt = (path: string): NativeAddon | undefined => {
    try {
      return require(path) as NativeAddon;
    } catch (err) {
      tried.push(`${path} (${(err as Error).message.split('\n')[0]})`);
      return undefined;
    }
  };
  const explicit = process.env.AKACHAT_ADDON_PATH;
  if (explicit) loaded = existsSync(explicit) ? attempt(explicit) : (tried.push(`${explicit} (AKACHAT_ADDON_PATH: not found)`), undefined);
  if (!loaded) {
    try {
      loaded = attempt((require('node-gyp-build') as NodeGypBuild).path(root));
    } catch {
      tried.push(
        `${join(root, 'build', 'Release')} (no .node file)`,
        `${join(root, 'build', 'Debug')} (no .node file)`,
        `${join(root, 'prebuilds', `${process.platform}-${process.arch}`)} (no prebuilt binary for this platform)`,
      );
    }
  }
  if (loaded) return loaded;
  throw new AddonLoadError(
    `The akachat native addon could not be loaded. Tried:\n  ${tried.join('\n  ')}\n` +
      'Build it with `npm run build:native` (CPU) or `npm run build:cuda` (CUDA), which needs cmake and a C++ compiler, ' +
      'or set AKACHAT_ADDON_PATH to a built akachat.node.',
  );
}

/** True when an addon file exists where loadAddon() looks (without loading it). */
export function addonAvailable(): boolean {
  if (process.env.AKACHAT_ADDON_PATH) return existsSync(process.env.AKACHAT_ADDON_PATH);
  try {
    (require('node-gyp-build') as NodeGypBuild).path(packageRoot());
    return true;
  } catch {
    return false;
  }
}
