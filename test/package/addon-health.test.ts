/**
 * When the native addon cannot load, the server still starts (remote models work), and both the
 * start banner and /api/health say so with the loader's message instead of "ok".
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const dataDir = mkdtempSync(join(tmpdir(), 'akachat-health-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

describe('health when the addon cannot load', () => {
  it('the banner and /api/health carry the loader message', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'serve', '--port', '0', '--data', dataDir], {
      env: { ...process.env, AKACHAT_ADDON_PATH: '/nonexistent/akachat.node' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      let out = '';
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => { out += chunk; });
      await new Promise<void>((resolve, reject) => {
        child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
          out += chunk;
          if (out.includes('Press Ctrl-C')) resolve();
        });
        child.on('exit', (code) => reject(new Error(`akachat serve exited with ${code}:\n${out}`)));
      });
      expect(out).toContain('Native addon:    NOT LOADED');
      expect(out).toContain('/nonexistent/akachat.node (AKACHAT_ADDON_PATH: not found)');
      const url = /listening on (http:\/\/\S+)/.exec(out)![1];
      const health = await (await fetch(`${url}/api/health`)).json();
      expect(health.status).toBe('degraded');
      expect(health.addon.loaded).toBe(false);
      expect(health.addon.error).toContain('/nonexistent/akachat.node (AKACHAT_ADDON_PATH: not found)');
    } finally {
      child.kill();
    }
  });
});
