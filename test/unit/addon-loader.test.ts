import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

describe('addon loader', () => {
  it('lists the paths it tried and how to build when no addon loads', () => {
    const script = "import('./src/engine/addon.ts').then((m) => m.loadAddon()).catch((e) => { console.log(e.code); console.log(e.message); })";
    const child = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], {
      encoding: 'utf8',
      env: { ...process.env, AKACHAT_ADDON_PATH: '/nonexistent/akachat.node', PREBUILDS_ONLY: '1' },
    });
    expect(child.stdout).toContain('ADDON_LOAD_FAILED');
    expect(child.stdout).toContain('/nonexistent/akachat.node (AKACHAT_ADDON_PATH: not found)');
    expect(child.stdout).toMatch(/prebuilds\/linux-x64/);
    expect(child.stdout).toContain('npm run build:native');
  });
});
