/**
 * `akachat serve`: the WebAPI on a data folder (the same call as `npm start`, through
 * examples/server.ts). Flags win over environment variables, which win over the defaults. The
 * HTTP adapter is imported here only, when the server starts, so other commands never load it.
 */
import { join, resolve } from 'node:path';
import { Command, CommanderError } from 'commander';
import packageJson from '../../package.json' with { type: 'json' };
import { addonStatus } from '../engine/addon.js';
import type { OriginPolicy } from '../http/security.js';
import type { ServerDefaults } from '../run/runner.js';
import { isHubReference } from '../llm/hub.js';
import { modelProgressPrinter, statOf, UsageError, type CliIo } from './io.js';

/** The WebAPI's defaults (as in src/http/serve.ts, which this file must not import eagerly). */
export const DEFAULT_PORT = 50000;
export const DEFAULT_HOST = '127.0.0.1';

/** What `akachat serve` runs with, after flags, environment and defaults are merged. */
export interface ServeConfig {
  port: number;
  host: string;
  dataDir: string;
  model?: string;
  /** Folder of GGUF files offered to clients by name. */
  modelsDir?: string;
  /** CPU threads per context; undefined = defaultThreads(). */
  threads?: number;
  /** Conversations served at once per model (slots of its context); undefined = 'auto' (ModelManager: 4, 2 or 1 by memory). */
  parallel?: number | 'auto';
  /** Save long prompts' KV states in `<data>/cache/kv` and restore them after a restart. */
  promptCache?: boolean;
  apiKey?: string;
  corsOrigins: OriginPolicy;
  managementOrigins: OriginPolicy;
  /** Sampling for requests that name none (request > prompt/preset options > these > built-ins). */
  defaults: ServerDefaults;
  /** Let management callers download hf: models (the playground's pull). */
  allowPull?: boolean;
  /** Let management callers change every config.json setting (API keys included), not only is_test. */
  allowSettings?: boolean;
}

/** serve's flags as commander hands them over (strings, before the environment is merged). */
interface ServeFlags {
  port?: string;
  host?: string;
  data?: string;
  model?: string;
  modelsDir?: string;
  threads?: string;
  parallel?: string;
  promptCache?: boolean;
  apiKey?: string;
  cors?: string;
  managementCors?: string;
  allowPull?: boolean;
  allowSettings?: boolean;
  seed?: string;
  temp?: string;
  topK?: string;
  topP?: string;
  minP?: string;
  repeatPenalty?: string;
  nPredict?: string;
}

/** Declares serve's options on `command`. */
export function serveOptions(command: Command): Command {
  return command
    .description('run the WebAPI: akachat, OpenAI-, Ollama- and llama.cpp-compatible routes, speech streaming, the playground at / and docs at /docs')
    .option('-p, --port <n>', `port to listen on (default ${DEFAULT_PORT}) [AKACHAT_PORT]`)
    .option('--host <address>', `address to listen on (default ${DEFAULT_HOST}; 0.0.0.0 = every interface, reachable from the network) [AKACHAT_HOST]`)
    .option('-d, --data <folder>', 'data folder with prompt/, vars/, log/, models.json, config.json (default: the current folder) [AKACHAT_DATA]')
    .option('-m, --model <model>', 'default local model: a GGUF path or hf:owner/repo:QUANT (default: none; prompts and presets may name their own) [AKACHAT_MODEL]')
    .option('--models-dir <folder>', 'GGUF files offered to clients by name (file name without .gguf, listed by /v1/models); clients never name paths [AKACHAT_MODELS_DIR]')
    .option('-t, --threads <n>', 'CPU threads per model (default: physical cores - 1) [AKACHAT_THREADS]')
    .option('--prompt-cache', 'keep long prompts\' (personas\') KV states in <data>/cache/kv, so the first call after a restart is as fast as a warm one [AKACHAT_PROMPT_CACHE=1]')
    .option('--parallel <n>', 'conversations served at once per model: slots of its context, each with the context size; "auto" (default): 4 when their KV cache fits in half of the free memory, else 2 or 1 [AKACHAT_PARALLEL]')
    .option('--api-key <key>', 'require Authorization: Bearer <key> (default: no key) [AKACHAT_API_KEY]')
    .option('--cors <origins>', 'browser origins allowed on the chat routes: comma-separated origins (* wildcards allowed), "local" or "*" (default: local) [AKACHAT_CORS]')
    .option('--management-cors <origins>', 'origins allowed on management routes (prompts, vars, settings, uploads); default: none besides this server\'s own pages [AKACHAT_MANAGEMENT_CORS]')
    .option('--allow-pull', 'let HTTP requests download hf: models into the cache (the playground\'s pull, a preset or prompt naming an uncached hf: model); default: only `akachat pull` and --model download [AKACHAT_ALLOW_PULL=1]')
    .option('--allow-settings', 'let management callers (the playground) change owner-only things: every config.json setting (API keys included) and the prompt and preset options that choose what runs and where (model paths, hf:, provider, endpoint, api_key, chat_template, dtype, input_tokens); default: is_test, generation parameters and listed model names [AKACHAT_ALLOW_SETTINGS=1]')
    // Sampling defaults, named as llama-server names them; a request's or prompt's own values win.
    .option('-s, --seed <n>', 'default seed for requests that name none (default: random) [AKACHAT_SEED]')
    .option('--temp <t>', 'default temperature (default 0.8) [AKACHAT_TEMP]')
    .option('--top-k <n>', 'default top-k, 0 = off (default 40) [AKACHAT_TOP_K]')
    .option('--top-p <p>', 'default top-p, 1 = off (default 0.95) [AKACHAT_TOP_P]')
    .option('--min-p <p>', 'default min-p, 0 = off (default 0.05) [AKACHAT_MIN_P]')
    .option('--repeat-penalty <x>', 'default repeat penalty, 1 = off (default 1) [AKACHAT_REPEAT_PENALTY]')
    .option('-n, --n-predict <n>', 'default most tokens to generate, -1 = until end or a full context (default 512) [AKACHAT_N_PREDICT]');
}

/** Parses `serve`'s flags over the environment. Throws UsageError naming the bad flag; returns undefined for --help. */
export function parseServeArgs(args: readonly string[], env: Record<string, string | undefined>): ServeConfig | undefined {
  const command = serveOptions(new Command('serve')).exitOverride().configureOutput({ writeOut: () => {}, writeErr: () => {} });
  try {
    command.parse([...args], { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError && error.code === 'commander.helpDisplayed') return undefined;
    if (error instanceof CommanderError) throw new UsageError(error.message.replace(/^error: /, ''));
    throw error;
  }
  return serveConfig(command.opts<ServeFlags>(), env);
}

/** Merges flags over the environment and checks every value. */
export function serveConfig(flags: ServeFlags, env: Record<string, string | undefined>): ServeConfig {
  const pick = (flag: string | undefined, variable: string) => (flag !== undefined ? flag : env[variable] || undefined);

  const portText = pick(flags.port, 'AKACHAT_PORT') ?? String(DEFAULT_PORT);
  if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535) {
    throw new UsageError(`Expected a port number (0-65535) for --port but received ${JSON.stringify(portText)}`);
  }
  const host = pick(flags.host, 'AKACHAT_HOST') ?? DEFAULT_HOST;
  if (host.trim() === '' || /[\s/]/.test(host)) throw new UsageError(`Expected an address such as 127.0.0.1 or 0.0.0.0 for --host but received ${JSON.stringify(host)}`);

  const dataDir = resolve(pick(flags.data, 'AKACHAT_DATA') ?? '.');
  const dataStat = statOf(dataDir);
  if (dataStat && !dataStat.isDirectory()) throw new UsageError(`Expected a folder for --data but ${dataDir} is a file`);

  const model = checkedModel(pick(flags.model, 'AKACHAT_MODEL'), '--model');
  const modelsDir = checkedFolder(pick(flags.modelsDir, 'AKACHAT_MODELS_DIR'), '--models-dir');
  const threads = checkedThreads(pick(flags.threads, 'AKACHAT_THREADS'));
  const parallelText = pick(flags.parallel, 'AKACHAT_PARALLEL');
  if (parallelText !== undefined && parallelText !== 'auto' && (!/^\d{1,3}$/.test(parallelText) || Number(parallelText) < 1 || Number(parallelText) > 256)) {
    throw new UsageError(`Expected "auto" or a number of slots (1-256) for --parallel but received ${JSON.stringify(parallelText)}`);
  }
  const apiKey = pick(flags.apiKey, 'AKACHAT_API_KEY');
  const number = (flag: string | undefined, variable: string, name: string, what: string, ok: (n: number) => boolean): number | undefined => {
    const text = pick(flag, variable);
    if (text === undefined) return undefined;
    const value = Number(text);
    if (text.trim() === '' || !Number.isFinite(value) || !ok(value)) throw new UsageError(`Expected ${what} for ${name} but received ${JSON.stringify(text)}`);
    return value;
  };
  const int = Number.isSafeInteger;
  const defaults: ServerDefaults = {
    seed: number(flags.seed, 'AKACHAT_SEED', '--seed', 'a whole number of 0 or more', (n) => int(n) && n >= 0 && n <= 0xffffffff),
    temperature: number(flags.temp, 'AKACHAT_TEMP', '--temp', 'a number from 0 to 2', (n) => n >= 0 && n <= 2),
    topK: number(flags.topK, 'AKACHAT_TOP_K', '--top-k', 'a whole number of 0 or more', (n) => int(n) && n >= 0),
    topP: number(flags.topP, 'AKACHAT_TOP_P', '--top-p', 'a number from 0 to 1', (n) => n >= 0 && n <= 1),
    minP: number(flags.minP, 'AKACHAT_MIN_P', '--min-p', 'a number from 0 to 1', (n) => n >= 0 && n <= 1),
    repeatPenalty: number(flags.repeatPenalty, 'AKACHAT_REPEAT_PENALTY', '--repeat-penalty', 'a number of 0 or more', (n) => n >= 0),
    maxTokens: number(flags.nPredict, 'AKACHAT_N_PREDICT', '--n-predict', 'a whole number of 1 or more, or -1', (n) => int(n) && (n >= 1 || n === -1) && n < 2 ** 31 - 1),
  };
  for (const key of Object.keys(defaults) as (keyof ServerDefaults)[]) if (defaults[key] === undefined) delete defaults[key];
  return {
    port: Number(portText),
    host,
    dataDir,
    model,
    modelsDir,
    threads,
    ...(parallelText !== undefined ? { parallel: parallelText === 'auto' ? 'auto' as const : Number(parallelText) } : {}),
    ...(flags.promptCache || env.AKACHAT_PROMPT_CACHE === '1' ? { promptCache: true } : {}),
    apiKey,
    corsOrigins: parseOrigins(pick(flags.cors, 'AKACHAT_CORS'), 'local', '--cors'),
    managementOrigins: parseOrigins(pick(flags.managementCors, 'AKACHAT_MANAGEMENT_CORS'), [], '--management-cors'),
    defaults,
    ...(flags.allowPull || env.AKACHAT_ALLOW_PULL === '1' ? { allowPull: true } : {}),
    ...(flags.allowSettings || env.AKACHAT_ALLOW_SETTINGS === '1' ? { allowSettings: true } : {}),
  };
}

/** A GGUF path (must exist; returned absolute) or an hf: reference. */
export function checkedModel(model: string | undefined, flag: string): string | undefined {
  if (model === undefined || isHubReference(model)) return model;
  if (!statOf(resolve(model))?.isFile()) throw new UsageError(`Model file not found for ${flag}: ${resolve(model)} (give a GGUF path or hf:owner/repo:QUANT)`);
  return resolve(model);
}

/** An existing folder, returned absolute. */
export function checkedFolder(text: string | undefined, flag: string): string | undefined {
  if (text === undefined) return undefined;
  if (!statOf(resolve(text))?.isDirectory()) throw new UsageError(`Expected a folder for ${flag} but received ${JSON.stringify(text)}`);
  return resolve(text);
}

export function checkedThreads(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d{1,4}$/.test(text) || Number(text) < 1) throw new UsageError(`Expected a number of threads (1 or more) for --threads but received ${JSON.stringify(text)}`);
  return Number(text);
}

/** `*`, `local`, or a comma-separated list of origins (may include `local`). */
function parseOrigins(text: string | undefined, fallback: OriginPolicy, flag: string): OriginPolicy {
  if (text === undefined || text.trim() === '') return fallback;
  const items = text.split(',').map((item) => item.trim()).filter(Boolean);
  if (items.length === 1 && (items[0] === '*' || items[0] === 'local')) return items[0];
  for (const item of items) {
    if (item !== 'local' && item !== 'null' && !/^https?:\/\/[^/\s]+$/i.test(item)) {
      throw new UsageError(`Expected origins such as http://localhost:3000 (scheme and host, no path) for ${flag} but received ${JSON.stringify(item)}`);
    }
  }
  return items;
}

/** Runs the server until Ctrl-C / SIGTERM; resolves with the exit code. */
export async function runServe(config: ServeConfig, io: CliIo): Promise<number> {
  const [{ serve }, { Akachat }] = await Promise.all([import('../http/serve.js'), import('../akachat.js')]);
  const akachat = new Akachat({
    dataDir: config.dataDir,
    defaultModel: config.model,
    modelsDir: config.modelsDir,
    // Embedding model for RAG collections that name none; without it they are lexical-only.
    defaultEmbeddingModel: io.env.AKACHAT_EMBEDDING_MODEL || undefined,
    // The server's model stays loaded: the next request should not pay for loading it again.
    models: { keepAliveMs: 0, threads: config.threads, parallel: config.parallel, ...(config.promptCache ? { promptCache: { dir: join(config.dataDir, 'cache', 'kv') } } : {}) },
    onModelEvent: modelProgressPrinter(io.out),
  });
  let server;
  try {
    server = await serve(akachat, {
      port: config.port,
      host: config.host,
      apiKey: config.apiKey,
      corsOrigins: config.corsOrigins,
      managementOrigins: config.managementOrigins,
      defaults: config.defaults,
      allowPull: config.allowPull,
      allowSettings: config.allowSettings,
    });
  } catch (error) {
    await akachat.dispose();
    throw error;
  }
  printBanner(io, server.url, config);
  if (config.model) {
    const started = performance.now();
    server.app.preloadDefaultModel().then(
      () => io.out(`Model loaded in ${((performance.now() - started) / 1000).toFixed(1)} s`),
      (error: unknown) => io.err(`The default model failed to load: ${error instanceof Error ? error.message : String(error)}\n(The server keeps running; /api/health shows the error.)`),
    );
  }
  await new Promise<void>((resolveStop) => io.onStop(resolveStop));
  io.out('Stopping...');
  await server.close();
  await akachat.dispose();
  return 0;
}

function printBanner(io: CliIo, url: string, config: ServeConfig): void {
  const lines = [
    `akachat ${packageJson.version} WebAPI listening on ${url}`,
    `  Playground:      ${url}/`,
    `  API docs:        ${url}/docs`,
    `  OpenAI base URL: ${url}/v1        Ollama host: ${url}`,
    `  Data folder:     ${config.dataDir}`,
    config.model
      ? `  Model:           ${config.model} (loading...)`
      : '  Model:           none configured. Set one with --model <file.gguf | hf:owner/repo:QUANT> or AKACHAT_MODEL;\n' +
        '                   saved prompts and presets that name a model work without it.',
    ...(config.modelsDir ? [`  Models folder:   ${config.modelsDir} (offered by file name)`] : []),
    `  Threads:         ${config.threads ?? 'physical cores - 1'} per model; ${config.parallel ?? 'auto (4, 2 or 1 by memory)'} conversation(s) at once per model (--parallel)`,
    describeAddon(),
    ...(Object.keys(config.defaults).length > 0 ? [`  Sampling:        ${JSON.stringify(config.defaults)} when a request or prompt sets none`] : []),
    `  API key:         ${config.apiKey ? 'required (Authorization: Bearer <key>)' : 'not required'}`,
    `  CORS:            ${describeOrigins(config.corsOrigins)}; management routes: ${describeOrigins(config.managementOrigins)}`,
    ...(config.allowPull || config.allowSettings ? [`  Allowed:         ${[config.allowPull && 'hf: downloads by HTTP requests', config.allowSettings && 'every setting and prompt or preset option (API keys, model paths, endpoints, chat templates too) from the management routes'].filter(Boolean).join('; ')}`] : []),
  ];
  if (!['127.0.0.1', 'localhost', '::1'].includes(config.host) && !config.apiKey) {
    lines.push(`  Warning: listening on ${config.host} without an API key: anyone on the network can use this server (set --api-key).`);
  }
  lines.push('Press Ctrl-C to stop.');
  io.out(lines.join('\n'));
}

/** The native addon's line: where it loaded from, or the loader's whole message when it did not. */
function describeAddon(): string {
  const addon = addonStatus();
  if (!addon.ok) return `  Native addon:    NOT LOADED, local models will fail (/api/health says "degraded"):\n    ${addon.message.split('\n').join('\n    ')}`;
  return [`  Native addon:    ${addon.path}`, ...addon.notes.map((note) => `                   note: ${note}`)].join('\n');
}

function describeOrigins(policy: OriginPolicy): string {
  if (policy === '*') return 'any origin';
  if (policy === 'local') return 'local pages (localhost, 127.0.0.1)';
  return policy.length === 0 ? 'this server\'s own pages only' : policy.join(', ');
}
