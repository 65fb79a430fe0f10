import { existsSync, readdirSync, readFileSync } from 'node:fs';
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

/** Where the addon may be, in the order they are tried. */
export function addonCandidates(root = packageRoot()): string[] {
  const explicit = process.env.AKACHAT_ADDON_PATH;
  const prebuildDir = join(root, 'prebuilds', `${process.platform}-${process.arch}`);
  const prebuilt = existsSync(prebuildDir)
    ? readdirSync(prebuildDir).filter((f) => f.endsWith('.node')).sort((a, b) => Number(b.includes('cuda')) - Number(a.includes('cuda'))).map((f) => join(prebuildDir, f))
    : [join(prebuildDir, 'akachat.node')];
  return [
    ...(explicit ? [explicit] : []),
    join(root, 'build', 'Release', 'akachat.node'),
    join(root, 'build', 'Debug', 'akachat.node'),
    ...prebuilt,
  ];
}

/**
 * Loads the native addon once: `AKACHAT_ADDON_PATH`, then `build/` (a local build), then
 * `prebuilds/<platform>-<arch>/` (packed by prebuildify). One error lists every path tried.
 */
export function loadAddon(): NativeAddon {
  if (loaded) return loaded;
  const tried: string[] = [];
  for (const candidate of addonCandidates()) {
    if (!existsSync(candidate)) {
      tried.push(`${candidate} (not found)`);
      continue;
    }
    try {
      loaded = require(candidate) as NativeAddon;
      return loaded;
    } catch (err) {
      tried.push(`${candidate} (${(err as Error).message.split('\n')[0]})`);
    }
  }
  throw new AddonLoadError(
    `The akachat native addon could not be loaded. Tried:\n  ${tried.join('\n  ')}\n` +
      'Build it with `npm run build:native` (CPU) or `npm run build:cuda` (CUDA), which needs cmake and a C++ compiler, ' +
      'or set AKACHAT_ADDON_PATH to a built akachat.node.',
  );
}
