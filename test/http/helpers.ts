/** A WebAPI server on loopback (port 0) over a fresh data folder, for the HTTP tests. */
import { request as httpRequest } from 'node:http';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { Akachat } from '../../src/akachat.js';
import type { GenerationReport } from '../../src/run/runner.js';
import { serve, type AkachatServer, type ServeOptions } from '../../src/http/serve.js';
import { startFakeHub, type FakeHub } from '../support/fake-hub.js';
import { addonBuilt, sharedModel } from '../support/models.js';

/** stories260K's path when the addon is built and the model is available. */
export const stories = addonBuilt ? sharedModel('stories') : undefined;

/** A models folder listing `alpha` and `sub/beta`, whose files are no real models (for the trust tests: what reaches the manager). */
export async function fakeModelsDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'akachat-models-'));
  await mkdir(join(dir, 'sub'));
  await writeFile(join(dir, 'alpha.gguf'), 'not really a model');
  await writeFile(join(dir, 'sub', 'beta.gguf'), 'not really a model');
  return dir;
}

/** What {@link hubServers} starts; its fields are set once the describe block's beforeAll ran. */
export interface HubServers {
  hub: FakeHub;
  /** The model cache the servers download into (AKACHAT_CACHE_DIR). */
  cache: string;
  /** A server started without --allow-pull. */
  locked: TestServer;
  /** A server started with --allow-pull. */
  pulls: TestServer;
}

/**
 * For a describe block of hf: tests: before its tests, a fake hub serving `model` (see
 * startFakeHub), AKACHAT_HF_ENDPOINT and AKACHAT_CACHE_DIR pointed at it and at a fresh cache (the
 * servers' model managers read them when made), and the servers `locked` and `pulls`; after them,
 * all closed, removed and put back.
 */
export function hubServers(model: string | Buffer, hubOptions?: Parameters<typeof startFakeHub>[1]): HubServers {
  const servers = {} as HubServers;
  const saved = { AKACHAT_HF_ENDPOINT: process.env.AKACHAT_HF_ENDPOINT, AKACHAT_CACHE_DIR: process.env.AKACHAT_CACHE_DIR };
  beforeAll(async () => {
    servers.hub = await startFakeHub(model, hubOptions);
    servers.cache = await mkdtemp(join(tmpdir(), 'akachat-cache-'));
    process.env.AKACHAT_HF_ENDPOINT = servers.hub.endpoint;
    process.env.AKACHAT_CACHE_DIR = servers.cache;
    servers.locked = await startServer();
    servers.pulls = await startServer({ serve: { allowPull: true } });
  });
  afterAll(async () => {
    await servers.locked?.close();
    await servers.pulls?.close();
    await servers.hub?.close();
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    if (servers.cache) await rm(servers.cache, { recursive: true, force: true });
  });
  return servers;
}

export interface TestServer {
  akachat: Akachat;
  server: AkachatServer;
  url: string;
  dataDir: string;
  /** Every generation report, in order. */
  reports: GenerationReport[];
  close(): Promise<void>;
}

export async function startServer(options: { model?: string; serve?: ServeOptions } = {}): Promise<TestServer> {
  const dataDir = await mkdtemp(join(tmpdir(), 'akachat-http-'));
  const akachat = new Akachat({ dataDir, defaultModel: options.model, rag: null, models: { keepAliveMs: 0, threads: 1, parallel: 1 } }); // one thread: steady timings on a busy machine; one slot: these tests count running and waiting requests
  const reports: GenerationReport[] = [];
  const server = await serve(akachat, {
    port: 0,
    onServerError: () => {},
    ...options.serve,
    onGeneration: (report) => {
      reports.push(report);
      options.serve?.onGeneration?.(report);
    },
  });
  return {
    akachat,
    server,
    url: server.url,
    dataDir,
    reports,
    async close() {
      await server.close();
      await akachat.dispose();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** POSTs JSON with fetch. */
export function postJson(url: string, body: unknown, init: RequestInit = {}): Promise<Response> {
  return fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json', ...(init.headers as Record<string, string> | undefined) }, body: JSON.stringify(body), signal: init.signal });
}

/** Reads a response body as the chunks the client received, decoded. */
export async function readChunks(response: Response): Promise<string[]> {
  const decoder = new TextDecoder();
  const chunks: string[] = [];
  const reader = response.body!.getReader();
  for (let r = await reader.read(); !r.done; r = await reader.read()) chunks.push(decoder.decode(r.value, { stream: true }));
  return chunks;
}

/** Waits until `check()` is true (polling), or fails after `timeoutMs`. */
export async function waitFor(check: () => boolean, timeoutMs = 5000, what = 'the condition'): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > until) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A raw HTTP request (node:http lets tests set Host, which fetch does not). */
export function rawRequest(url: string, options: { method?: string; headers?: Record<string, string>; body?: string }): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: options.method ?? 'GET', headers: options.headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => { body += chunk; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end(options.body);
  });
}
