import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sharedModel } from '../support/models.js';
import { collect, runCli, spawnCli } from './helpers.js';

// A local hub in Hugging Face's URL layout that sends the file in slow pieces, so the
// download lasts a few seconds and shows progress; `cutAfter` drops the next download midway.
const body = Buffer.alloc(2_000_000);
for (let i = 0; i < body.length; i++) body[i] = (i * 31) % 251;
const sha = createHash('sha256').update(body).digest('hex');
const PIECES = 8;
const PIECE_DELAY_MS = 350;
let server: Server;
let endpoint: string;
let cutAfter = 0;
const ranges: (string | undefined)[] = [];

const stories = sharedModel('stories');
let storiesBytes: Buffer | undefined;

beforeAll(async () => {
  if (stories) storiesBytes = await readFile(stories);
  server = createServer((req, res) => {
    const url = req.url ?? '';
    if (url === '/api/models/acme/tiny/revision/main') {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ siblings: [{ rfilename: 'tiny-Q8_0.gguf' }, { rfilename: 'tiny-Q4_K_M.gguf' }] }));
      return;
    }
    if (url === '/acme/stories/resolve/main/stories260K.gguf' && storiesBytes) {
      res.setHeader('content-length', String(storiesBytes.length));
      res.end(storiesBytes);
      return;
    }
    if (!/^\/acme\/tiny\/resolve\/main\/tiny-(Q8_0|Q4_K_M)\.gguf$/.test(url)) {
      res.statusCode = 404;
      res.end('not found');
      return;
    }
    ranges.push(req.headers.range);
    const start = Number(req.headers.range?.match(/^bytes=(\d+)-$/)?.[1] ?? 0);
    res.setHeader('x-linked-size', String(body.length));
    res.setHeader('x-linked-etag', `"${sha}"`);
    res.setHeader('content-length', String(body.length - start));
    if (start > 0) {
      res.statusCode = 206;
      res.setHeader('content-range', `bytes ${start}-${body.length - 1}/${body.length}`);
    }
    const end = cutAfter > 0 ? start + cutAfter : body.length;
    cutAfter = 0;
    const size = Math.ceil(body.length / PIECES);
    let at = start;
    const next = () => {
      if (res.destroyed) return;
      if (at >= end) {
        if (end < body.length) res.destroy(); // the cut: the client sees a broken download
        else res.end();
        return;
      }
      const piece = body.subarray(at, Math.min(at + size, end));
      at += piece.length;
      res.write(piece, () => setTimeout(next, PIECE_DELAY_MS));
    };
    next();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe('akachat pull (child processes, a local fake hub)', () => {
  let cache: string;
  beforeAll(async () => {
    cache = await mkdtemp(join(tmpdir(), 'akachat-cli-pull-'));
  });
  afterAll(() => rm(cache, { recursive: true, force: true }));

  it('downloads hf:owner/repo:QUANT into the cache with progress (percent, speed, ETA) and prints its path', async () => {
    const env = { AKACHAT_HF_ENDPOINT: endpoint, AKACHAT_CACHE_DIR: cache };
    const run = await runCli(['pull', 'hf:acme/tiny:q4_k_m'], { env });
    expect(run.code).toBe(0);
    const path = join(cache, 'hf', 'acme', 'tiny', 'main', 'tiny-Q4_K_M.gguf');
    expect(run.stdout).toBe(`${path}\n`);
    expect(await readFile(path)).toEqual(body);
    const lines = run.stderr.split('\n').filter((line) => line.startsWith('pull'));
    expect(lines.length).toBeGreaterThanOrEqual(2);
    expect(lines.some((line) => /^pull \d+%: [\d.]+ (KiB|MiB)\/1\.9 MiB \| [\d.]+ (KiB|MiB)\/s \| ETA \d/.test(line)), run.stderr).toBe(true);
    expect(lines.at(-1)).toMatch(/^pull 100%: 1\.9 MiB\/1\.9 MiB .*tiny-Q4_K_M\.gguf$/);

    const again = await runCli(['pull', 'hf:acme/tiny:Q4_K_M'], { env });
    expect(again.code).toBe(0);
    expect(again.stdout).toBe(`${path}\n`); // cached: no progress, no request
    expect(again.stderr).toBe('');
  });

  it('resumes an interrupted download with a Range request', async () => {
    const env = { AKACHAT_HF_ENDPOINT: endpoint, AKACHAT_CACHE_DIR: cache };
    cutAfter = 1_000_000;
    const broken = await runCli(['pull', 'hf:acme/tiny/tiny-Q8_0.gguf'], { env });
    expect(broken.code).toBe(1);
    expect(broken.stderr).toMatch(/^akachat: /m);
    const path = join(cache, 'hf', 'acme', 'tiny', 'main', 'tiny-Q8_0.gguf');
    expect(existsSync(`${path}.partial`)).toBe(true);
    const before = ranges.length;
    const resumed = await runCli(['pull', 'hf:acme/tiny/tiny-Q8_0.gguf'], { env });
    expect(resumed.code).toBe(0);
    expect(ranges.slice(before)).toEqual([`bytes=${1_000_000}-`]);
    expect(await readFile(path)).toEqual(body);
  });

  it('stops at Ctrl-C, keeping the partial file for the next pull (exit 130)', async () => {
    const child = spawnCli(['pull', 'hf:acme/tiny/tiny-Q8_0.gguf', '--cache-dir', join(cache, 'stopped')], { env: { AKACHAT_HF_ENDPOINT: endpoint } });
    const done = collect(child);
    await new Promise<void>((resolve) => child.stderr!.once('data', () => resolve())); // the first progress line
    child.kill('SIGINT');
    const run = await done;
    expect(run.code).toBe(130);
    expect(run.stderr).toMatch(/Stopped\. Run the same command again to resume the download\./);
    expect(existsSync(join(cache, 'stopped', 'hf', 'acme', 'tiny', 'main', 'tiny-Q8_0.gguf.partial'))).toBe(true);
  });

  it('says when the hub has no such model (exit 1)', async () => {
    const run = await runCli(['pull', 'hf:acme/tiny:IQ2_XS'], { env: { AKACHAT_HF_ENDPOINT: endpoint, AKACHAT_CACHE_DIR: cache } });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/No IQ2_XS GGUF in acme\/tiny; it has: tiny-Q8_0\.gguf, tiny-Q4_K_M\.gguf/);
  });

  it.skipIf(!stories)('run with an hf: model downloads it first, with progress on stderr', async () => {
    const data = join(cache, 'data');
    await mkdir(join(data, 'prompt'), { recursive: true });
    await writeFile(join(data, 'prompt', 'story.txt'), 'Once upon a time');
    // Messages mode: in template mode Akachat.bosText() loads the model first without reporting the download.
    await writeFile(join(data, 'prompt', 'story.json'), JSON.stringify({ max_new_tokens: 4 }));
    const run = await runCli(['run', 'story', '-d', data, '--model', 'hf:acme/stories/stories260K.gguf'], { env: { AKACHAT_HF_ENDPOINT: endpoint, AKACHAT_CACHE_DIR: join(cache, 'run') } });
    expect(run.code).toBe(0);
    expect(run.stdout.trim().length).toBeGreaterThan(0);
    expect(run.stderr).toMatch(/^downloading stories260K\.gguf 100%: 1\.1 MiB\/1\.1 MiB/m);
    expect(existsSync(join(cache, 'run', 'hf', 'acme', 'stories', 'main', 'stories260K.gguf'))).toBe(true);
  });
});
