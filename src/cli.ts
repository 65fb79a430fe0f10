#!/usr/bin/env node
/**
 * The `akachat` command. `akachat serve` runs the WebAPI on a data folder (the same call as
 * `npm start`, through examples/server.ts). Flags win over environment variables, which win over
 * the defaults. Usage errors print a message and exit with code 2.
 */
import { realpathSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import packageJson from '../package.json' with { type: 'json' };
import { Akachat } from './akachat.js';
import { addonStatus } from './engine/addon.js';
import { DEFAULT_HOST, DEFAULT_PORT, serve } from './http/serve.js';
import type { OriginPolicy } from './http/security.js';
import { isHubReference } from './llm/hub.js';
import type { ModelEvent } from './llm/model-manager.js';

/** A wrong flag or value: printed with a hint, exit code 2. */
export class UsageError extends Error {}

/** Where the CLI writes and what it reads; tests pass their own. */
export interface CliIo {
  out(line: string): void;
  err(line: string): void;
  env: Record<string, string | undefined>;
  /** Calls `stop` on Ctrl-C / SIGTERM (once). Default: process signals; a second Ctrl-C exits at once. */
  onStop(stop: () => void): void;
}

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
  apiKey?: string;
  corsOrigins: OriginPolicy;
  managementOrigins: OriginPolicy;
}

const SERVE_HELP = `Usage: akachat serve [options]

Runs the akachat WebAPI: akachat routes, OpenAI-, Ollama- and llama.cpp-compatible routes,
sentence streaming for speech, and interactive docs at /docs.

Options (environment variable in brackets):
  -p, --port <n>              port to listen on (default ${DEFAULT_PORT}) [AKACHAT_PORT]
      --host <address>        address to listen on (default ${DEFAULT_HOST}; 0.0.0.0 = every
                              interface, reachable from the network) [AKACHAT_HOST]
  -d, --data <folder>         data folder with prompt/, vars/, log/, models.json, config.json
                              (default: the current folder) [AKACHAT_DATA]
  -m, --model <model>         default local model: a GGUF path or hf:owner/repo:QUANT
                              (default: none; prompts and presets may name their own) [AKACHAT_MODEL]
      --models-dir <folder>   GGUF files offered to clients by name (file name without .gguf,
                              listed by /v1/models); clients never name paths [AKACHAT_MODELS_DIR]
  -t, --threads <n>           CPU threads per model (default: physical cores - 1) [AKACHAT_THREADS]
      --api-key <key>         require Authorization: Bearer <key> (default: no key) [AKACHAT_API_KEY]
      --cors <origins>        browser origins allowed on the chat routes: comma-separated
                              origins (* wildcards allowed), "local" or "*" (default: local) [AKACHAT_CORS]
      --management-cors <origins>
                              origins allowed on management routes (prompts, vars, settings,
                              uploads); default: none besides this server's own pages [AKACHAT_MANAGEMENT_CORS]
  -h, --help                  show this help
`;

const MAIN_HELP = `Usage: akachat <command> [options]

Commands:
  serve     run the WebAPI (akachat serve --help for its options)

Options:
  -h, --help      show this help
  -v, --version   show the version
`;

/** Runs the CLI; resolves with the exit code (for `serve`: when the server has stopped). */
export async function main(argv: readonly string[] = process.argv.slice(2), io: CliIo = processIo()): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === undefined || command === '-h' || command === '--help' || command === 'help') {
      io.out(MAIN_HELP);
      return command === undefined ? 2 : 0;
    }
    if (command === '-v' || command === '--version') {
      io.out(packageJson.version);
      return 0;
    }
    if (command === 'serve') return await serveCommand(rest, io);
    throw new UsageError(`Unknown command ${JSON.stringify(command)}. Commands: serve`);
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`akachat: ${error.message}`);
      io.err(command === 'serve' ? 'Run "akachat serve --help" for the options.' : 'Run "akachat --help" for the commands.');
      return 2;
    }
    io.err(`akachat: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
}

/** Parses `serve`'s flags over the environment. Throws UsageError naming the bad flag; returns undefined for --help. */
export function parseServeArgs(args: readonly string[], env: Record<string, string | undefined>): ServeConfig | undefined {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...args],
      strict: true,
      allowPositionals: false,
      options: {
        port: { type: 'string', short: 'p' },
        host: { type: 'string' },
        data: { type: 'string', short: 'd' },
        model: { type: 'string', short: 'm' },
        'models-dir': { type: 'string' },
        threads: { type: 'string', short: 't' },
        'api-key': { type: 'string' },
        cors: { type: 'string' },
        'management-cors': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (values.help) return undefined;
  const pick = (flag: string | undefined, variable: string) => (flag !== undefined ? flag : env[variable] || undefined);

  const portText = pick(values.port, 'AKACHAT_PORT') ?? String(DEFAULT_PORT);
  if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535) {
    throw new UsageError(`Expected a port number (0-65535) for --port but received ${JSON.stringify(portText)}`);
  }
  const host = pick(values.host, 'AKACHAT_HOST') ?? DEFAULT_HOST;
  if (host.trim() === '' || /[\s/]/.test(host)) throw new UsageError(`Expected an address such as 127.0.0.1 or 0.0.0.0 for --host but received ${JSON.stringify(host)}`);

  const dataDir = resolve(pick(values.data, 'AKACHAT_DATA') ?? '.');
  const dataStat = statOf(dataDir);
  if (dataStat && !dataStat.isDirectory()) throw new UsageError(`Expected a folder for --data but ${dataDir} is a file`);

  const model = pick(values.model, 'AKACHAT_MODEL');
  if (model !== undefined && !isHubReference(model)) {
    const stat = statOf(resolve(model));
    if (!stat?.isFile()) throw new UsageError(`Model file not found for --model: ${resolve(model)} (give a GGUF path or hf:owner/repo:QUANT)`);
  }
  const modelsDirText = pick(values['models-dir'], 'AKACHAT_MODELS_DIR');
  const modelsDir = modelsDirText === undefined ? undefined : resolve(modelsDirText);
  if (modelsDir !== undefined && !statOf(modelsDir)?.isDirectory()) throw new UsageError(`Expected a folder for --models-dir but received ${JSON.stringify(modelsDirText)}`);
  const threadsText = pick(values.threads, 'AKACHAT_THREADS');
  if (threadsText !== undefined && (!/^\d{1,4}$/.test(threadsText) || Number(threadsText) < 1)) {
    throw new UsageError(`Expected a number of threads (1 or more) for --threads but received ${JSON.stringify(threadsText)}`);
  }
  const apiKey = pick(values['api-key'], 'AKACHAT_API_KEY');
  return {
    port: Number(portText),
    host,
    dataDir,
    model: model === undefined ? undefined : isHubReference(model) ? model : resolve(model),
    modelsDir,
    threads: threadsText === undefined ? undefined : Number(threadsText),
    apiKey,
    corsOrigins: parseOrigins(pick(values.cors, 'AKACHAT_CORS'), 'local', '--cors'),
    managementOrigins: parseOrigins(pick(values['management-cors'], 'AKACHAT_MANAGEMENT_CORS'), [], '--management-cors'),
  };
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

async function serveCommand(args: readonly string[], io: CliIo): Promise<number> {
  const config = parseServeArgs(args, io.env);
  if (!config) {
    io.out(SERVE_HELP);
    return 0;
  }
  const akachat = new Akachat({
    dataDir: config.dataDir,
    defaultModel: config.model,
    modelsDir: config.modelsDir,
    // Embedding model for RAG collections that name none; without it they are lexical-only.
    defaultEmbeddingModel: io.env.AKACHAT_EMBEDDING_MODEL || undefined,
    // The server's model stays loaded: the next request should not pay for loading it again.
    models: { keepAliveMs: 0, threads: config.threads },
    onModelEvent: modelProgressPrinter(io),
  });
  let server;
  try {
    server = await serve(akachat, {
      port: config.port,
      host: config.host,
      apiKey: config.apiKey,
      corsOrigins: config.corsOrigins,
      managementOrigins: config.managementOrigins,
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
    `  API docs:        ${url}/docs`,
    `  OpenAI base URL: ${url}/v1        Ollama host: ${url}`,
    `  Data folder:     ${config.dataDir}`,
    config.model
      ? `  Model:           ${config.model} (loading...)`
      : '  Model:           none configured. Set one with --model <file.gguf | hf:owner/repo:QUANT> or AKACHAT_MODEL;\n' +
        '                   saved prompts and presets that name a model work without it.',
    ...(config.modelsDir ? [`  Models folder:   ${config.modelsDir} (offered by file name)`] : []),
    `  Threads:         ${config.threads ?? 'physical cores - 1'} per model`,
    describeAddon(),
    `  API key:         ${config.apiKey ? 'required (Authorization: Bearer <key>)' : 'not required'}`,
    `  CORS:            ${describeOrigins(config.corsOrigins)}; management routes: ${describeOrigins(config.managementOrigins)}`,
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

/** Prints downloads and loads, at most one line per 10% step. */
function modelProgressPrinter(io: CliIo): (event: ModelEvent) => void {
  const lastStep = new Map<string, number>();
  return (event) => {
    if (event.type === 'download') {
      const { downloadedBytes, totalBytes, file } = event.progress;
      if (!totalBytes) return;
      const step = Math.floor((downloadedBytes / totalBytes) * 10);
      if (lastStep.get(file) === step) return;
      lastStep.set(file, step);
      io.out(`Downloading ${file}: ${step * 10}% of ${(totalBytes / 2 ** 20).toFixed(0)} MiB`);
    } else if (event.type === 'quantize') {
      io.out(`Quantizing ${event.model} to ${event.to} (once; the result is cached)...`);
    } else if (event.type === 'unload') {
      io.out(`Unloaded ${event.model}`);
    }
  };
}

function statOf(path: string) {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

function processIo(): CliIo {
  return {
    out: (line) => console.log(line),
    err: (line) => console.error(line),
    env: process.env,
    onStop(stop) {
      let stopping = false;
      const handler = () => {
        if (stopping) process.exit(130); // a second Ctrl-C: stop now
        stopping = true;
        stop();
      };
      process.on('SIGINT', handler);
      process.on('SIGTERM', handler);
    },
  };
}

function isEntryPoint(): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  try {
    return realpathSync(entry) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  // No top-level await: the package also ships this file as CommonJS.
  void main().then((code) => {
    process.exitCode = code;
    // Native threads or sockets left behind must not keep a finished command alive.
    setTimeout(() => process.exit(code), 2000).unref();
  });
}
