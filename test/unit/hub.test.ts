import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DownloadError, downloadHubModel, parseHubReference } from '../../src/llm/hub.js';

// A local server in the hub's URL layout: /{owner}/{repo}/resolve/{rev}/{file} and /api/models/...
const body = Buffer.alloc(300_000, 7);
for (let i = 0; i < body.length; i += 997) body[i] = i % 251;
const sha = createHash('sha256').update(body).digest('hex');
let server: Server;
let endpoint: string;
let cutAfter = 0; // when > 0, the next full download is cut after this many bytes
let badHash = false;
const seenRanges: (string | undefined)[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    const url = req.url ?? '';
    if (url === '/api/models/acme/tiny/revision/main') {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ siblings: [{ rfilename: 'README.md' }, { rfilename: 'tiny-Q8_0.gguf' }, { rfilename: 'tiny-Q4_K_M.gguf' }] }));
      return;
    }
    const m = url.match(/^\/acme\/tiny\/resolve\/main\/(tiny-(Q8_0|Q4_K_M)\.gguf)$/);
    if (!m) { res.statusCode = 404; res.end('not found'); return; }
    seenRanges.push(req.headers.range);
    res.setHeader('x-linked-size', String(body.length));
    res.setHeader('x-linked-etag', `"${badHash ? '0'.repeat(64) : sha}"`);
    const range = req.headers.range?.match(/^bytes=(\d+)-$/);
    const start = range ? Number(range[1]) : 0;
    if (range) {
      res.statusCode = 206;
      res.setHeader('content-range', `bytes ${start}-${body.length - 1}/${body.length}`);
    }
    res.setHeader('content-length', String(body.length - start));
    if (cutAfter > 0 && !range) {
      const n = cutAfter;
      cutAfter = 0;
      res.write(body.subarray(0, n), () => setTimeout(() => res.destroy(), 100));
      return;
    }
    res.end(body.subarray(start));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe('hf: references', () => {
  it('parses both forms and refuses unsafe ones', () => {
    expect(parseHubReference('hf:acme/tiny/sub/model.gguf')).toMatchObject({ owner: 'acme', repo: 'tiny', file: 'sub/model.gguf', revision: 'main' });
    expect(parseHubReference('hf:acme/tiny:Q4_K_M')).toMatchObject({ owner: 'acme', repo: 'tiny', quant: 'Q4_K_M' });
    for (const bad of ['hf:acme', 'hf:acme/../x/y.gguf', 'hf:acme/tiny/model.bin', 'acme/tiny:Q4', 'hf:acme/tiny']) {
      expect(() => parseHubReference(bad)).toThrow(/Expected hf:owner\/repo/);
    }
  });

  it('downloads once with progress, checks size and sha256, and picks a quant', async () => {
    const cacheDir = await mkdtemp(join(tmpdir(), 'akachat-hub-'));
    const progress: number[] = [];
    const path = await downloadHubModel('hf:acme/tiny:q4_k_m', { cacheDir, endpoint, onProgress: (p) => progress.push(p.downloadedBytes) });
    expect(path.endsWith(join('acme', 'tiny', 'main', 'tiny-Q4_K_M.gguf'))).toBe(true);
    expect(await readFile(path)).toEqual(body);
    expect(progress.at(-1)).toBe(body.length);
    const requests = seenRanges.length;
    expect(await downloadHubModel('hf:acme/tiny:Q4_K_M', { cacheDir, endpoint })).toBe(path);
    expect(seenRanges.length).toBe(requests); // cached: no new download
    await rm(cacheDir, { recursive: true, force: true });
  });

  it('resumes an interrupted download with a Range request', async () => {
    const cacheDir = await mkdtemp(join(tmpdir(), 'akachat-hub-'));
    cutAfter = 100_000;
    await expect(downloadHubModel('hf:acme/tiny/tiny-Q8_0.gguf', { cacheDir, endpoint })).rejects.toThrow(DownloadError);
    const partial = join(cacheDir, 'hf', 'acme', 'tiny', 'main', 'tiny-Q8_0.gguf.partial');
    expect(existsSync(partial)).toBe(true);
    const path = await downloadHubModel('hf:acme/tiny/tiny-Q8_0.gguf', { cacheDir, endpoint });
    expect(seenRanges.at(-1)).toMatch(/^bytes=\d+-$/);
    expect(await readFile(path)).toEqual(body);
    await rm(cacheDir, { recursive: true, force: true });
  });

  it('removes a download whose sha256 does not match', async () => {
    const cacheDir = await mkdtemp(join(tmpdir(), 'akachat-hub-'));
    badHash = true;
    await expect(downloadHubModel('hf:acme/tiny/tiny-Q8_0.gguf', { cacheDir, endpoint })).rejects.toThrow(/sha256 .* but the hub said/);
    badHash = false;
    expect(existsSync(join(cacheDir, 'hf', 'acme', 'tiny', 'main', 'tiny-Q8_0.gguf'))).toBe(false);
    await rm(cacheDir, { recursive: true, force: true });
  });

  it('names a missing quant and a missing file', async () => {
    const cacheDir = await mkdtemp(join(tmpdir(), 'akachat-hub-'));
    await expect(downloadHubModel('hf:acme/tiny:Q2_K', { cacheDir, endpoint })).rejects.toThrow(/No Q2_K GGUF in acme\/tiny; it has: tiny-Q8_0.gguf, tiny-Q4_K_M.gguf/);
    await expect(downloadHubModel('hf:acme/tiny/other.gguf', { cacheDir, endpoint })).rejects.toThrow(/other.gguf not found/);
    await rm(cacheDir, { recursive: true, force: true });
  });

  it('gives a clear error when offline', async () => {
    const cacheDir = await mkdtemp(join(tmpdir(), 'akachat-hub-'));
    await writeFile(join(cacheDir, 'x'), '');
    await expect(downloadHubModel('hf:acme/tiny/tiny-Q8_0.gguf', { cacheDir, endpoint: 'http://127.0.0.1:1' }))
      .rejects.toThrow(/Cannot reach http:\/\/127.0.0.1:1 .*offline.*pass its path/);
    await rm(cacheDir, { recursive: true, force: true });
  });
});
