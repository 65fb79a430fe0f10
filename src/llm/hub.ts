/**
 * `hf:` model references: downloaded once from a Hugging Face-style hub into a cache folder,
 * with progress, resume after interruption, and a size and sha256 check where the hub gives
 * them. Forms: `hf:owner/repo/path/file.gguf` and `hf:owner/repo:QUANT` (picks the repo's
 * GGUF whose name contains QUANT, e.g. Q4_K_M).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { AbortError, AkachatError, InvalidArgumentError, NotFoundError, OwnerOnlyError, abortReason } from '../errors.js';

export interface HubReference {
  owner: string;
  repo: string;
  /** File path inside the repo, or undefined when `quant` picks it. */
  file?: string;
  quant?: string;
  revision: string;
}

export interface DownloadProgress {
  file: string;
  downloadedBytes: number;
  totalBytes: number | undefined;
}

export interface HubOptions {
  /** Hub base URL. Default: AKACHAT_HF_ENDPOINT or https://huggingface.co */
  endpoint?: string;
  /** Where downloads are kept. */
  cacheDir: string;
  /** Token for gated repos. Default: HF_TOKEN. */
  token?: string;
  onProgress?: (progress: DownloadProgress) => void;
  signal?: AbortSignal;
}

export class DownloadError extends AkachatError {
  constructor(message: string, options?: ErrorOptions) { super(message, 'DOWNLOAD_FAILED', options); }
}

const SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** Set while code runs for a caller who may not start downloads (an HTTP request without `serve --allow-pull`). */
const downloadsRefused = new AsyncLocalStorage<true>();

/**
 * Runs `fn` (and everything it starts) with hf: downloads refused: references resolve to files
 * already in the cache, offline, and an uncached one throws OwnerOnlyError saying how the owner
 * pulls it. The WebAPI runs each request so unless the owner allowed pulls: a caller, through a
 * preset or prompt that names an hf: model, must not make the server download gigabytes.
 */
export function withoutDownloads<T>(fn: () => T): T {
  return downloadsRefused.run(true, fn);
}

export function isHubReference(ref: string): boolean {
  return ref.startsWith('hf:');
}

/** Parses `hf:owner/repo/file.gguf`, `hf:owner/repo:QUANT`, optionally `@revision` after the repo. */
export function parseHubReference(ref: string): HubReference {
  const bad = (why: string) => new InvalidArgumentError(`Expected hf:owner/repo/file.gguf or hf:owner/repo:QUANT for model but received ${JSON.stringify(ref)}: ${why}`);
  if (!ref.startsWith('hf:')) throw bad('missing the hf: prefix');
  const body = ref.slice(3);
  const colon = body.indexOf(':');
  const path = colon >= 0 ? body.slice(0, colon) : body;
  const quant = colon >= 0 ? body.slice(colon + 1) : undefined;
  const parts = path.split('/');
  if (parts.length < 2) throw bad('owner and repo are required');
  let [owner, repo] = parts;
  let revision = 'main';
  if (repo.includes('@')) [repo, revision] = repo.split('@', 2);
  const fileParts = parts.slice(2);
  for (const seg of [owner, repo, revision, ...fileParts]) if (!SEGMENT.test(seg)) throw bad(`unsafe path segment ${JSON.stringify(seg)}`);
  if (quant !== undefined && (fileParts.length > 0 || !/^[A-Za-z0-9_]+$/.test(quant))) throw bad('use either a file path or :QUANT');
  if (quant === undefined && fileParts.length === 0) throw bad('name a .gguf file or a :QUANT');
  if (fileParts.length > 0 && !fileParts.at(-1)!.toLowerCase().endsWith('.gguf')) throw bad('the file must be a .gguf');
  return { owner, repo, revision, file: fileParts.length ? fileParts.join('/') : undefined, quant };
}

function endpointOf(options: HubOptions): string {
  return (options.endpoint ?? process.env.AKACHAT_HF_ENDPOINT ?? 'https://huggingface.co').replace(/\/+$/, '');
}

async function hubFetch(url: string, options: HubOptions, init: RequestInit = {}): Promise<Response> {
  const token = options.token ?? process.env.HF_TOKEN;
  const headers = new Headers(init.headers);
  if (token) headers.set('authorization', `Bearer ${token}`);
  try {
    return await fetch(url, { ...init, headers, signal: options.signal, redirect: 'follow' });
  } catch (err) {
    if (options.signal?.aborted) throw new AbortError(abortReason(options.signal));
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new DownloadError(
      `Cannot reach ${new URL(url).origin} (${cause?.code ?? cause?.message ?? (err as Error).message}). ` +
        'If this machine is offline, download the GGUF elsewhere and pass its path as the model, or set AKACHAT_HF_ENDPOINT to a reachable mirror.',
      { cause: err },
    );
  }
}

/** Picks the repo's GGUF file for `quant` through the hub's model API. */
async function resolveQuantFile(ref: HubReference, options: HubOptions): Promise<string> {
  const url = `${endpointOf(options)}/api/models/${ref.owner}/${ref.repo}/revision/${ref.revision}`;
  const res = await hubFetch(url, options);
  if (res.status === 404) throw new NotFoundError(`Model repo ${ref.owner}/${ref.repo} not found on ${endpointOf(options)}`);
  if (!res.ok) throw new DownloadError(`Listing ${ref.owner}/${ref.repo} failed: HTTP ${res.status}`);
  const info = (await res.json()) as { siblings?: { rfilename: string }[] };
  const ggufs = (info.siblings ?? []).map((s) => s.rfilename).filter((f) => f.toLowerCase().endsWith('.gguf'));
  const single = pickQuantFile(ggufs, ref.quant!);
  if (!single) {
    throw new NotFoundError(`No ${ref.quant} GGUF in ${ref.owner}/${ref.repo}; it has: ${ggufs.join(', ') || 'no GGUF files'}`);
  }
  return single;
}

/** The shortest single-file GGUF whose name contains `quant` (`-` read as `_`), or undefined. */
function pickQuantFile(files: string[], quant: string): string | undefined {
  const wanted = quant.toLowerCase();
  const matches = files.filter((f) => f.toLowerCase().endsWith('.gguf') && f.toLowerCase().replace(/-/g, '_').includes(wanted)).sort((a, b) => a.length - b.length);
  // Split models (…-00001-of-00003.gguf) are not supported yet: prefer single files.
  return matches.find((f) => !/-\d{5}-of-\d{5}\.gguf$/i.test(f));
}

/** Where a repo's files at a revision are cached: `<cacheDir>/hf/<owner>/<repo>/<revision>/`. */
export function hubCacheFolder(cacheDir: string, ref: Pick<HubReference, 'owner' | 'repo' | 'revision'>): string {
  return join(cacheDir, 'hf', ref.owner, ref.repo, ref.revision);
}

/** The reference naming one file of a repo at a revision exactly (`hf:owner/repo[@revision]/file`). */
export function hubFileReference(ref: Pick<HubReference, 'owner' | 'repo' | 'revision'>, file: string): string {
  return `hf:${ref.owner}/${ref.repo}${ref.revision === 'main' ? '' : `@${ref.revision}`}/${file}`;
}

/** The cached file of a reference without asking the hub (a :QUANT one picked among the cached files), or undefined. */
async function cachedFile(ref: HubReference, cacheDir: string): Promise<string | undefined> {
  const folder = hubCacheFolder(cacheDir, ref);
  if (ref.file) return existsSync(join(folder, ...ref.file.split('/'))) ? ref.file : undefined;
  let entries: string[];
  try {
    entries = await readdir(folder, { recursive: true });
  } catch {
    return undefined; // nothing of this repo is cached
  }
  return pickQuantFile(entries.map((entry) => relative(folder, join(folder, entry)).split(sep).join('/')), ref.quant!);
}

async function sha256Of(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * Downloads the referenced GGUF (once) and returns its local path. A `.partial` file is
 * resumed with an HTTP Range request; the finished file is size- and sha256-checked when the
 * hub sends `x-linked-size` / `x-linked-etag` (as Hugging Face does for LFS files).
 */
export async function downloadHubModel(reference: string, options: HubOptions): Promise<string> {
  const ref = parseHubReference(reference);
  if (downloadsRefused.getStore()) {
    const cached = await cachedFile(ref, options.cacheDir);
    if (cached) return join(hubCacheFolder(options.cacheDir, ref), ...cached.split('/'));
    throw new OwnerOnlyError(`${reference} is not downloaded on this server, and downloads are the owner's choice: run \`akachat pull ${reference}\` on the server's machine, or start the server with --allow-pull`);
  }
  const file = ref.file ?? (await resolveQuantFile(ref, options));
  const target = join(hubCacheFolder(options.cacheDir, ref), ...file.split('/'));
  if (existsSync(target)) return target;
  await mkdir(join(target, '..'), { recursive: true });
  const partial = `${target}.partial`;
  const url = `${endpointOf(options)}/${ref.owner}/${ref.repo}/resolve/${ref.revision}/${file.split('/').map(encodeURIComponent).join('/')}`;

  let have = existsSync(partial) ? (await stat(partial)).size : 0;
  const res = await hubFetch(url, options, { headers: have > 0 ? { range: `bytes=${have}-` } : {} });
  if (res.status === 404) throw new NotFoundError(`${file} not found in ${ref.owner}/${ref.repo} (${url})`);
  if (res.status === 401 || res.status === 403) throw new DownloadError(`${url} needs authorisation (HTTP ${res.status}): set HF_TOKEN`);
  if (res.status === 416 && have > 0) {
    // The partial file is already complete (or bigger than the file): verify it below.
  } else if (!res.ok || !res.body) {
    throw new DownloadError(`Downloading ${url} failed: HTTP ${res.status} ${res.statusText}`);
  }
  if (res.status === 200) have = 0; // the server ignored the Range: start over
  const expectedSize = Number(res.headers.get('x-linked-size') ?? (res.status === 200 ? res.headers.get('content-length') : NaN)) || undefined;
  const totalFromRange = res.headers.get('content-range')?.match(/\/(\d+)$/)?.[1];
  const total = expectedSize ?? (totalFromRange ? Number(totalFromRange) : undefined);
  const expectedSha = res.headers.get('x-linked-etag')?.replace(/"/g, '').toLowerCase();

  if (res.status !== 416) {
    const handle = await open(partial, have > 0 ? 'a' : 'w');
    let downloaded = have;
    let lastReport = 0;
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        await handle.write(chunk);
        downloaded += chunk.length;
        const now = Date.now();
        if (now - lastReport > 100) {
          lastReport = now;
          options.onProgress?.({ file, downloadedBytes: downloaded, totalBytes: total });
        }
      }
    } catch (err) {
      if (options.signal?.aborted) throw new AbortError(abortReason(options.signal), { cause: err });
      throw new DownloadError(`Download of ${file} was interrupted after ${downloaded} bytes; run again to resume`, { cause: err });
    } finally {
      await handle.close();
    }
    options.onProgress?.({ file, downloadedBytes: downloaded, totalBytes: total });
  }

  const size = (await stat(partial)).size;
  if (total !== undefined && size !== total) {
    if (size > total) await rm(partial, { force: true });
    throw new DownloadError(`Downloaded ${size} bytes of ${file} but the hub said ${total}${size > total ? '; the partial file was removed' : '; run again to resume'}`);
  }
  if (expectedSha && /^[0-9a-f]{64}$/.test(expectedSha)) {
    const actual = await sha256Of(partial);
    if (actual !== expectedSha) {
      await rm(partial, { force: true });
      throw new DownloadError(`sha256 of ${file} is ${actual} but the hub said ${expectedSha}; the download was removed`);
    }
  }
  await rename(partial, target);
  return target;
}
