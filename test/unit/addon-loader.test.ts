import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ADDON_INTERFACE, addonCandidates, chooseAddon, type AddonSearch } from '../../src/engine/addon.js';
import type { NativeAddon, NativeDevice } from '../../src/engine/addon-types.js';

const search: AddonSearch = { root: '/pkg', env: {}, platform: 'linux', arch: 'x64', gpu: false };

/** A stand-in addon whose ggml reports these device types. */
function fakeAddon(...types: NativeDevice['type'][]): NativeAddon {
  const devices = types.map((type) => ({ name: type, description: type, type, memoryFree: 0, memoryTotal: 0 }));
  return { interfaceVersion: ADDON_INTERFACE, systemInfo: () => ({ llama: '', supportsGpuOffload: false, supportsMmap: true, mathCores: 1, devices }) } as unknown as NativeAddon;
}

describe('addon loader', () => {
  it('lists the path it tried and how to build when no addon loads', () => {
    const script = "import('./src/engine/addon.ts').then((m) => m.loadAddon()).catch((e) => { console.log(e.code); console.log(e.message); })";
    const child = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], {
      encoding: 'utf8',
      env: { ...process.env, AKACHAT_ADDON_PATH: '/nonexistent/akachat.node' },
    });
    expect(child.stdout).toContain('ADDON_LOAD_FAILED');
    expect(child.stdout).toContain('/nonexistent/akachat.node (AKACHAT_ADDON_PATH: not found)');
    expect(child.stdout).toContain('npm run build:native');
  });

  it('addonStatus reports the loader message instead of throwing', () => {
    const script = "import('./src/engine/addon.ts').then((m) => console.log(JSON.stringify(m.addonStatus())))";
    const child = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], {
      encoding: 'utf8',
      env: { ...process.env, AKACHAT_ADDON_PATH: '/nonexistent/akachat.node' },
    });
    const status = JSON.parse(child.stdout);
    expect(status.ok).toBe(false);
    expect(status.message).toContain('/nonexistent/akachat.node (AKACHAT_ADDON_PATH: not found)');
  });

  it('looks at AKACHAT_ADDON_PATH alone when it is set', () => {
    expect(addonCandidates({ ...search, env: { AKACHAT_ADDON_PATH: '/x/a.node' }, gpu: true })).toEqual([
      { path: '/x/a.node', kind: 'AKACHAT_ADDON_PATH' },
    ]);
  });

  it('tries a source build, then the CPU prebuild; the CUDA prebuild only with a GPU driver', () => {
    expect(addonCandidates(search).map((c) => c.path)).toEqual([
      '/pkg/build/Release/akachat.node',
      '/pkg/prebuilds/linux-x64/akachat.node',
    ]);
    expect(addonCandidates({ ...search, gpu: true }).map((c) => c.path)).toEqual([
      '/pkg/build/Release/akachat.node',
      '/pkg/prebuilds/linux-x64-cuda/akachat.node',
      '/pkg/prebuilds/linux-x64/akachat.node',
    ]);
    expect(addonCandidates({ ...search, gpu: true, env: { AKACHAT_CUDA: '0' } }).map((c) => c.kind)).toEqual([
      'source build',
      'CPU prebuild',
    ]);
  });

  it('chooses the CUDA prebuild when it loads and finds a GPU', () => {
    const candidates = addonCandidates({ ...search, gpu: true });
    const cuda = fakeAddon('gpu', 'cpu');
    const choice = chooseAddon(candidates, () => cuda, (path) => path.includes('prebuilds'));
    expect(choice.addon).toBe(cuda);
    expect(choice.path).toBe('/pkg/prebuilds/linux-x64-cuda/akachat.node');
    expect(choice.notes).toEqual([]);
  });

  it('falls back to the CPU prebuild when the CUDA one fails to load, and says why', () => {
    const candidates = addonCandidates({ ...search, gpu: true });
    const cpu = fakeAddon('cpu');
    const choice = chooseAddon(
      candidates,
      (path) => {
        if (path.includes('-cuda')) throw new Error('libcudart.so.12: cannot open shared object file\nmore');
        return cpu;
      },
      (path) => path.includes('prebuilds'),
    );
    expect(choice.addon).toBe(cpu);
    expect(choice.path).toBe('/pkg/prebuilds/linux-x64/akachat.node');
    expect(choice.notes).toEqual(['/pkg/prebuilds/linux-x64-cuda/akachat.node (CUDA prebuild: libcudart.so.12: cannot open shared object file)']);
    expect(choice.tried[0]).toBe('/pkg/build/Release/akachat.node (source build: not found)');
  });

  it('notes a CUDA prebuild that runs on the CPU because no GPU is usable', () => {
    const choice = chooseAddon(addonCandidates({ ...search, gpu: true }), () => fakeAddon('cpu'), (path) => path.includes('-cuda'));
    expect(choice.path).toBe('/pkg/prebuilds/linux-x64-cuda/akachat.node');
    expect(choice.notes).toEqual(['/pkg/prebuilds/linux-x64-cuda/akachat.node (CUDA prebuild: no CUDA device usable, running on the CPU)']);
  });

  it('passes over an addon whose ggml found no CPU backend (libraries left behind)', () => {
    const empty = fakeAddon();
    const cpu = fakeAddon('cpu');
    const choice = chooseAddon(addonCandidates(search), (path) => (path.includes('/build/') ? empty : cpu), () => true);
    expect(choice.addon).toBe(cpu);
    expect(choice.notes[0]).toMatch(/build\/Release\/akachat\.node \(source build: loaded, but ggml found no CPU backend/);
  });

  it('passes over an addon built from older sources (a stale build/ after an update) for the next candidate', () => {
    const stale = { ...fakeAddon('cpu'), interfaceVersion: undefined } as NativeAddon;
    const newer = { ...fakeAddon('cpu'), interfaceVersion: ADDON_INTERFACE + 1 } as NativeAddon;
    const cpu = fakeAddon('cpu');
    const choice = chooseAddon(addonCandidates(search), (path) => (path.includes('/build/') ? stale : cpu), () => true);
    expect(choice.addon).toBe(cpu);
    expect(choice.notes).toEqual([`/pkg/build/Release/akachat.node (source build: built from other akachat sources (addon interface 1, this code needs ${ADDON_INTERFACE}); rebuild it)`]);
    const none = chooseAddon(addonCandidates(search), () => newer, () => true);
    expect(none.addon).toBeUndefined();
    expect(none.tried[1]).toContain(`addon interface ${ADDON_INTERFACE + 1}, this code needs ${ADDON_INTERFACE}`);
  });

  it('returns no addon and every reason when nothing loads', () => {
    const choice = chooseAddon(addonCandidates(search), () => { throw new Error('bad ELF'); }, (path) => path.includes('prebuilds'));
    expect(choice.addon).toBeUndefined();
    expect(choice.tried).toEqual([
      '/pkg/build/Release/akachat.node (source build: not found)',
      '/pkg/prebuilds/linux-x64/akachat.node (CPU prebuild: bad ELF)',
    ]);
  });
});
